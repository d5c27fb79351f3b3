import Foundation
import NIOCore
import NIOPosix
import PsEPRCore
import Synchronization

/// Nanoseconds on the monotonic clock; publishers stamp events with it and subscribers, in the
/// same process, subtract it on arrival.
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Delivery latencies in logarithmic buckets (about 4 % wide), mergeable across subscribers.
struct LatencyHistogram: Sendable {
    private static let bucketsPerDoubling = 16.0
    private(set) var counts = [Int](repeating: 0, count: 16 * 40)
    private(set) var total = 0

    mutating func record(nanoseconds: UInt64) {
        let value = Double(max(nanoseconds, 1))
        let bucket = min(Int(log2(value) * Self.bucketsPerDoubling), counts.count - 1)
        counts[bucket] += 1
        total += 1
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        total += other.total
    }

    /// The latency below which `fraction` of the samples fall, in nanoseconds.
    func percentile(_ fraction: Double) -> Double? {
        guard total > 0 else { return nil }
        let target = Int((Double(total) * fraction).rounded(.up))
        var seen = 0
        for (bucket, count) in counts.enumerated() {
            seen += count
            if seen >= max(target, 1) { return pow(2, (Double(bucket) + 0.5) / Self.bucketsPerDoubling) }
        }
        return nil
    }
}

/// What the subscribers of one run have received.
final class BenchTally: Sendable {
    private struct State {
        var delivered = 0
        var histogram = LatencyHistogram()
        var lastDelivery: UInt64 = 0
    }

    private let state = Mutex(State())

    func add(delivered: Int, histogram: LatencyHistogram, at time: UInt64) {
        state.withLock { state in
            state.delivered += delivered
            state.histogram.merge(histogram)
            state.lastDelivery = max(state.lastDelivery, time)
        }
    }

    var delivered: Int { state.withLock { $0.delivered } }
    var histogram: LatencyHistogram { state.withLock { $0.histogram } }
    var lastDelivery: UInt64 { state.withLock { $0.lastDelivery } }
}

/// Logs a raw connection in and takes leases, reading replies as text (only during set-up).
struct LoadConnection: Sendable {
    let channel: any Channel
    let inbound: AsyncStream<ByteBuffer>

    static func connect(to host: String, port: Int, service: String, instance: String) async throws -> LoadConnection {
        let (stream, sink) = AsyncStream.makeStream(of: ByteBuffer.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(SetupReader(sink)) }
            }
            .connect(host: host, port: port).get()
        let connection = LoadConnection(channel: channel, inbound: stream)
        try await connection.exchange(
            "<?xml version='1.0'?><stream:stream to='\(host)' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
                + "<iq type='set' id='login'><query xmlns='jabber:iq:auth'><username>\(service)</username><password>bench</password><resource>\(instance)</resource></query></iq>",
            until: "id='login'"
        )
        return connection
    }

    /// Sends `text` and reads until `marker` has arrived.
    func exchange(_ text: String, until marker: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
        var received = ""
        for await chunk in inbound {
            received += String(buffer: chunk)
            if received.contains(marker) { return }
            if received.contains("type='error'") { throw BenchError("the server refused: \(received.suffix(200))") }
        }
        throw BenchError("the connection closed during set-up")
    }

    /// Takes a lease on `channel` and waits for its grant.
    func lease(_ channel: String, identifier: String) async throws {
        try await exchange(
            "<message id='\(identifier)'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to><from><service>bench</service></from>"
                + "<payload xmlns='http://psepr.org/xs/payload/lease'><identifier>\(identifier)</identifier><duration>3600</duration><op>register</op></payload></event></message>",
            until: "<op>lease</op>"
        )
    }

    /// Swaps the set-up reader for a counting one.
    func startCounting(into tally: BenchTally) async throws {
        try await channel.eventLoop.submit {
            let handlers = channel.pipeline.syncOperations
            try handlers.addHandler(CountingReader(tally: tally))
            try handlers.removeHandler(handlers.handler(type: SetupReader.self))
        }.get()
    }
}

/// Hands set-up replies to an `AsyncStream`.
final class SetupReader: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let sink: AsyncStream<ByteBuffer>.Continuation
    init(_ sink: AsyncStream<ByteBuffer>.Continuation) { self.sink = sink }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { sink.yield(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) {
        sink.finish()
        context.fireChannelInactive()
    }
}

/// Counts delivered `<message>`s and their latencies by scanning the bytes: `</message>` ends
/// one, and `<t>` is followed by the publisher's 19-digit send time.
final class CountingReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private static let messageEnd = Array("</message>".utf8)
    private static let stampStart = Array("<t>".utf8)

    private let tally: BenchTally
    private var endMatched = 0
    private var stampMatched = 0
    private var digitsLeft = 0
    private var stamp: UInt64 = 0

    init(tally: BenchTally) { self.tally = tally }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var delivered = 0
        var histogram = LatencyHistogram()
        var stamps: [UInt64] = []
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                if digitsLeft > 0 {
                    stamp = stamp * 10 + UInt64(byte &- 48)
                    digitsLeft -= 1
                    if digitsLeft == 0 { stamps.append(stamp) }
                    continue
                }
                endMatched = Self.advance(endMatched, byte, Self.messageEnd)
                if endMatched == Self.messageEnd.count {
                    delivered += 1
                    endMatched = 0
                }
                stampMatched = Self.advance(stampMatched, byte, Self.stampStart)
                if stampMatched == Self.stampStart.count {
                    stampMatched = 0
                    digitsLeft = 19
                    stamp = 0
                }
            }
        }
        let now = monotonicNanoseconds()
        for sent in stamps where sent <= now { histogram.record(nanoseconds: now - sent) }
        if delivered > 0 { tally.add(delivered: delivered, histogram: histogram, at: now) }
    }

    /// One step of matching `pattern`, whose first byte occurs nowhere else in it.
    @inline(__always)
    private static func advance(_ matched: Int, _ byte: UInt8, _ pattern: [UInt8]) -> Int {
        if byte == pattern[matched] { return matched + 1 }
        return byte == pattern[0] ? 1 : 0
    }
}

/// Builds a publisher's stanzas from per-channel templates, stamping each with its send time.
struct StanzaTemplates {
    private var templates: [ByteBuffer] = []
    private var stampOffsets: [Int] = []

    init(channels: [String], instance: String, payloadBytes: Int) {
        for channel in channels {
            let head = "<message id='b'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to>"
                + "<from><service>bench</service><instance>\(instance)</instance></from><payload xmlns='urn:bench'><t>"
            let stamp = String(repeating: "0", count: 19)
            let bare = "<payload xmlns='urn:bench'><t>\(stamp)</t><d></d></payload>".utf8.count
            let filler = String(repeating: "x", count: max(0, payloadBytes - bare))
            let text = head + stamp + "</t><d>\(filler)</d></payload></event></message>"
            templates.append(ByteBuffer(string: text))
            stampOffsets.append(head.utf8.count)
        }
    }

    /// `count` stanzas starting at channel `first` (round robin), stamped now.
    func batch(count: Int, first: Int) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(count * (templates[0].readableBytes + 8))
        var digits = [UInt8](repeating: 48, count: 19)
        var value = monotonicNanoseconds()
        for index in stride(from: 18, through: 0, by: -1) {
            digits[index] = UInt8(48 + value % 10)
            value /= 10
        }
        for number in 0..<count {
            let which = (first + number) % templates.count
            let start = output.writerIndex
            output.writeImmutableBuffer(templates[which])
            output.setBytes(digits, at: start + stampOffsets[which])
        }
        return output
    }

    var channelCount: Int { templates.count }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
