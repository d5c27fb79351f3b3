import Logging
import NIOCore
import NIOPosix
import PsEPRCore
import PsEPRTestFixtures
@testable import PsEPRServer
import ServiceLifecycle
import Synchronization
import Testing

/// A time source tests move by hand, for lease expiry.
final class ManualTime: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(seconds: Int) { instant.withLock { $0 = $0.advanced(by: .seconds(seconds)) } }
}

/// Hands every inbound chunk to an `AsyncStream`, finishing it when the connection closes.
final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncStream<ByteBuffer>.Continuation

    init(_ continuation: AsyncStream<ByteBuffer>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Writes to a raw connection.
struct Sender: Sendable {
    let channel: any Channel
    func write(_ buffer: ByteBuffer) async throws { try await channel.writeAndFlush(buffer) }
}

/// A raw TCP client: sends bytes, reads what arrives. Every wait is bounded.
struct RawClient: Sendable {
    let channel: any Channel
    let inbound: AsyncStream<ByteBuffer>

    /// - Parameter readChunkBytes: reads of at most this many bytes, with a receive buffer of
    ///   the same size: a reader slower than the server (nil: the defaults).
    static func connect(port: Int, readChunkBytes: Int? = nil) async throws -> RawClient {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let readChunkBytes {
            bootstrap = bootstrap.channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: readChunkBytes))
                .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(readChunkBytes))
        }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(continuation)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel, inbound: stream)
    }

    var sender: Sender { Sender(channel: channel) }

    func send(_ text: String) async throws { try await sender.write(ByteBuffer(string: text)) }

    /// Stops reading from the socket, so the server's writes back up as for a stalled peer.
    func pauseReading() async throws { try await channel.setOption(ChannelOptions.autoRead, value: false).get() }

    /// Reads from the socket again.
    func resumeReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: true).get()
        channel.read()
    }
}

extension AsyncStream<ByteBuffer>.Iterator {
    /// Reads until the text received so far contains `marker`; returns it all. Fails after `seconds`.
    mutating func read(until marker: String, seconds: Int = 10) async throws -> String {
        var text = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        while !text.contains(marker) {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(marker) in \(text.suffix(200))") }
            guard let chunk = await next() else { throw TestFailure("connection closed before \(marker); got \(text.suffix(200))") }
            text += String(buffer: chunk)
        }
        return text
    }

    /// Reads one chunk, as a naive client does.
    mutating func chunk() async throws -> String {
        guard let chunk = await next() else { throw TestFailure("connection closed") }
        return String(buffer: chunk)
    }

    /// Reads until the connection closes; returns everything received.
    mutating func readToEnd() async -> String {
        var text = ""
        while let chunk = await next() { text += String(buffer: chunk) }
        return text
    }
}

/// A logged-in client on `port` (open server: any password).
func loggedIn(port: Int, service: String = "svc", password: String = "pw", resource: String = "Home", readChunkBytes: Int? = nil) async throws
    -> (RawClient, AsyncStream<ByteBuffer>.Iterator, Sender)
{
    let client = try await RawClient.connect(port: port, readChunkBytes: readChunkBytes)
    var iterator = client.inbound.makeAsyncIterator()
    try await client.send("<?xml version='1.0'?><stream:stream to='x' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    _ = try await iterator.read(until: "</stream:features>")
    try await client.send("<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>\(service)</username><password>\(password)</password><resource>\(resource)</resource></query></iq>")
    _ = try await iterator.read(until: "id='a1'")
    return (client, iterator, client.sender)
}

func leaseStanza(_ channel: String, identifier: String, op: String = "register", duration: Int = 600, type: String? = nil) -> String {
    let filter = type.map { "<type>\($0)</type>" } ?? ""
    return "<message id='l-\(identifier)'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to><from><service>svc</service></from>"
        + "<payload xmlns='http://psepr.org/xs/payload/lease'><duration>\(duration)</duration><identifier>\(identifier)</identifier><op>\(op)</op>\(filter)</payload></event></message>"
}

func eventStanza(_ channel: String, body: String, namespace: String = "urn:test", toService: String? = nil) -> String {
    let to = toService.map { "<service>\($0)</service>" } ?? ""
    return "<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel>\(to)</to>"
        + "<from><service>pub</service><instance>pub-1</instance></from><payload xmlns='\(namespace)'><v>\(body)</v></payload></event></message>"
}
