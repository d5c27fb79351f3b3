public import NIOCore
import NIOPosix

/// A raw TCP connection to a PsEPR server: sends bytes, hands what arrives to `inbound` (until a
/// counting reader takes over). Logs in and takes leases by their literal stanzas.
public struct LoadConnection: Sendable {
    public let channel: any Channel
    public let inbound: AsyncStream<ByteBuffer>

    /// Opens a connection without logging in.
    /// - Parameter readChunkBytes: reads of at most this many bytes, with a receive buffer of the
    ///   same size: a reader slower than the server (nil: the defaults).
    public static func open(
        host: String = "127.0.0.1",
        port: Int,
        readChunkBytes: Int? = nil
    ) async throws -> LoadConnection {
        let (stream, sink) = AsyncStream.makeStream(of: ByteBuffer.self)
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if let readChunkBytes {
            bootstrap = bootstrap.channelOption(
                .recvAllocator,
                value: FixedSizeRecvByteBufferAllocator(capacity: readChunkBytes)
            )
            .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(readChunkBytes))
        }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(InboundCollector(sink))
                }
            }
            .connect(host: host, port: port).get()
        return LoadConnection(channel: channel, inbound: stream)
    }

    /// Opens a connection and logs in as `service`/`instance` (any password: an open server).
    public static func connect(
        to host: String,
        port: Int,
        service: String,
        instance: String
    ) async throws -> LoadConnection {
        let connection = try await open(host: host, port: port)
        try await connection.exchange(
            "<?xml version='1.0'?><stream:stream to='\(host)' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
                + "<iq type='set' id='login'><query xmlns='jabber:iq:auth'><username>\(service)</username><password>bench</password><resource>\(instance)</resource></query></iq>",
            until: "id='login'"
        )
        return connection
    }

    /// Writes `buffer` and flushes it.
    public func write(_ buffer: ByteBuffer) async throws { try await channel.writeAndFlush(buffer) }

    /// Writes `text` and flushes it.
    public func send(_ text: String) async throws { try await write(ByteBuffer(string: text)) }

    /// Stops reading from the socket, so the server's writes back up as for a stalled peer.
    public func pauseReading() async throws { try await channel.setOption(ChannelOptions.autoRead, value: false).get() }

    /// Reads from the socket again.
    public func resumeReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: true).get()
        channel.read()
    }

    /// Sends `text` and reads until `marker` has arrived.
    public func exchange(_ text: String, until marker: String) async throws {
        try await send(text)
        var received = ""
        for await chunk in inbound {
            received += String(buffer: chunk)
            if received.contains(marker) { return }
            if received.contains("type='error'") {
                throw LoadGeneratorError("the server refused: \(received.suffix(200))")
            }
        }
        throw LoadGeneratorError("the connection closed during set-up")
    }

    /// Takes a lease on `channel` and waits for its grant.
    public func lease(_ channel: String, identifier: String) async throws {
        try await exchange(
            "<message id='\(identifier)'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to><from><service>bench</service></from>"
                + "<payload xmlns='http://psepr.org/xs/payload/lease'><identifier>\(identifier)</identifier><duration>3600</duration><op>register</op></payload></event></message>",
            until: "<op>lease</op>"
        )
    }

    /// Swaps the collecting reader for a counting one.
    public func startCounting(into tally: DeliveryTally, subscriber: Int? = nil) async throws {
        try await channel.eventLoop.submit {
            let handlers = channel.pipeline.syncOperations
            try handlers.addHandler(CountingReader(tally: tally, subscriber: subscriber))
            _ = try handlers.removeHandler(handlers.handler(type: InboundCollector.self))
        }.get()
    }

    /// Publishes `count` events from `templates` on the connection's event loop: batches go out
    /// while the socket takes them and resume when it drains (no task hop per batch); with a
    /// `rate`, batches are timed to it. Completes when the last batch is written.
    public func publish(
        _ templates: StanzaTemplates,
        count: Int,
        batch: Int,
        rate: Double,
        started: UInt64
    ) async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let channel = self.channel
        try await channel.eventLoop.submit {
            let publisher = PublishingHandler(
                templates: templates,
                count: count,
                batch: batch,
                rate: rate,
                started: started,
                done: promise
            )
            try channel.pipeline.syncOperations.addHandler(publisher)
            publisher.pump(try channel.pipeline.syncOperations.context(handler: publisher))
        }.get()
        try await promise.futureResult.get()
    }
}
