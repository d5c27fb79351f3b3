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

/// Delivery latencies in logarithmic buckets (about 4 % wide).
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
        /// Deliveries by subscriber number, for those counted with one.
        var perSubscriber: [Int: Int] = [:]
    }

    private let state = Mutex(State())

    /// Records one read's deliveries and the send times it carried, received at `time`.
    func add(delivered: Int, sentAt stamps: [UInt64], receivedAt time: UInt64, subscriber: Int? = nil) {
        state.withLock { state in
            state.delivered += delivered
            if let subscriber { state.perSubscriber[subscriber, default: 0] += delivered }
            for sent in stamps where sent <= time { state.histogram.record(nanoseconds: time - sent) }
            state.lastDelivery = max(state.lastDelivery, time)
        }
    }

    var delivered: Int { state.withLock { $0.delivered } }
    var perSubscriber: [Int: Int] { state.withLock { $0.perSubscriber } }
    var histogram: LatencyHistogram { state.withLock { $0.histogram } }
    var lastDelivery: UInt64 { state.withLock { $0.lastDelivery } }

    /// Waits until `expected` deliveries have been counted, or until they stop coming for two
    /// seconds (drops).
    func waitForDeliveries(_ expected: Int) async throws {
        var last = -1
        var quietSince = monotonicNanoseconds()
        while delivered < expected {
            let now = delivered
            if now != last {
                last = now
                quietSince = monotonicNanoseconds()
            } else if monotonicNanoseconds() - quietSince > 2_000_000_000 {
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
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
    func startCounting(into tally: BenchTally, subscriber: Int? = nil) async throws {
        try await channel.eventLoop.submit {
            let handlers = channel.pipeline.syncOperations
            try handlers.addHandler(CountingReader(tally: tally, subscriber: subscriber))
            _ = try handlers.removeHandler(handlers.handler(type: SetupReader.self))
        }.get()
    }
}

extension LoadConnection {
    /// Publishes `count` events from `templates` on the connection's event loop: batches go out
    /// while the socket takes them and resume when it drains (no task hop per batch); with a
    /// `rate`, batches are timed to it. Completes when the last batch is written.
    func publish(_ templates: StanzaTemplates, count: Int, batch: Int, rate: Double, started: UInt64) async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let channel = self.channel
        try await channel.eventLoop.submit {
            let publisher = PublishingHandler(templates: templates, count: count, batch: batch, rate: rate, started: started, done: promise)
            try channel.pipeline.syncOperations.addHandler(publisher)
            publisher.pump(try channel.pipeline.syncOperations.context(handler: publisher))
        }.get()
        try await promise.futureResult.get()
    }
}

/// Writes a publisher's batches from its event loop.
final class PublishingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let templates: StanzaTemplates
    private let count: Int
    private let batch: Int
    private let nanosecondsPerEvent: Double
    private let started: UInt64
    private let done: EventLoopPromise<Void>
    private var sent = 0
    private var timerArmed = false

    init(templates: StanzaTemplates, count: Int, batch: Int, rate: Double, started: UInt64, done: EventLoopPromise<Void>) {
        self.templates = templates
        self.count = count
        self.batch = batch
        self.nanosecondsPerEvent = rate > 0 ? 1e9 / rate : 0
        self.started = started
        self.done = done
    }

    /// Writes batches until the socket is full, the rate says wait, or everything is out.
    func pump(_ context: ChannelHandlerContext) {
        var wrote = false
        while sent < count, context.channel.isWritable {
            if nanosecondsPerEvent > 0 {
                let due = started + UInt64(Double(sent) * nanosecondsPerEvent)
                let now = monotonicNanoseconds()
                if due > now {
                    if !timerArmed {
                        timerArmed = true
                        context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(due - now))) { [self] in
                            timerArmed = false
                            pump(context)
                        }
                    }
                    break
                }
            }
            let size = min(batch, count - sent)
            context.write(wrapOutboundOut(templates.batch(count: size, first: sent)), promise: nil)
            sent += size
            wrote = true
        }
        guard wrote else { return }
        if sent == count {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: done)
        } else {
            context.flush()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump(context) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if sent < count { done.fail(BenchError("the server closed a publisher")) }
        context.fireChannelInactive()
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
/// one, and `<t>` is followed by the publisher's 19-digit send time. Matches carry across reads.
final class CountingReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let tally: BenchTally
    private let subscriber: Int?
    /// Bytes of `</message>` (after its `<`) or `t>` matched so far, and which one.
    private var partial: [UInt8] = []
    private var digitsLeft = 0
    private var stamp: UInt64 = 0

    init(tally: BenchTally, subscriber: Int? = nil) {
        self.tally = tally
        self.subscriber = subscriber
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if !partial.isEmpty {
            // A tag split across reads: glue the saved start onto this read.
            var joined = ByteBuffer(bytes: partial)
            joined.writeBuffer(&buffer)
            buffer = joined
            partial = []
        }
        var delivered = 0
        var stamps: [UInt64] = []
        // Locals, not the handler's properties, in the byte loop.
        var digitsLeft = self.digitsLeft
        var stamp = self.stamp
        var tail: [UInt8] = []
        buffer.withUnsafeReadableBytes { bytes in
            var index = 0
            let count = bytes.count
            while digitsLeft > 0, index < count {
                stamp = stamp &* 10 &+ UInt64(bytes[index] &- 48)
                digitsLeft -= 1
                index += 1
                if digitsLeft == 0 { stamps.append(stamp) }
            }
            while index < count {
                // Straight to the next "<" (memchr), past the payload text.
                guard let found = memchr(bytes.baseAddress! + index, Int32(UInt8(ascii: "<")), count - index) else { break }
                index = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
                // "</message>" is 10 bytes, "<t>" then 19 digits; keep the tail if a read splits one.
                if count - index < 10 {
                    tail = Array(bytes[index..<count])
                    break
                }
                let next = bytes[index + 1]
                if next == UInt8(ascii: "/"), bytes[index + 2] == UInt8(ascii: "m"), bytes[index + 9] == UInt8(ascii: ">") {
                    delivered += 1
                    index += 10
                } else if next == UInt8(ascii: "t"), bytes[index + 2] == UInt8(ascii: ">") {
                    index += 3
                    stamp = 0
                    digitsLeft = 19
                    while digitsLeft > 0, index < count {
                        stamp = stamp &* 10 &+ UInt64(bytes[index] &- 48)
                        digitsLeft -= 1
                        index += 1
                    }
                    if digitsLeft == 0 { stamps.append(stamp) }
                } else {
                    index += 1
                }
            }
        }
        self.digitsLeft = digitsLeft
        self.stamp = stamp
        self.partial = tail
        guard delivered > 0 || !stamps.isEmpty else { return }
        tally.add(delivered: delivered, sentAt: stamps, receivedAt: monotonicNanoseconds(), subscriber: subscriber)
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
