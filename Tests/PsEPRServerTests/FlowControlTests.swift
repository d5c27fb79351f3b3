import Foundation
import NIOCore
import NIOEmbedded
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRTesting
import Synchronization
import Testing

@testable import PsEPRServer

/// Flow control: a byte budget per connection, publishers held back past the high-water mark,
/// stall time and write deadline on an injected clock.
@Suite struct FlowControlTests {
    /// 64 KiB budget: high water 16 KiB, low water 8 KiB.
    static let smallFlow = FlowControl(pendingBudgetBytes: 64 << 10, writeDeadlineSeconds: 5, stallSeconds: 2)

    /// 1 MiB budget for live tests: past the high-water mark (256 KiB) there is room for the
    /// reads already under way (one of up to 256 KiB per publisher).
    static let liveFlow = FlowControl(pendingBudgetBytes: 1 << 20, writeDeadlineSeconds: 5, stallSeconds: 2)

    static func stanza(_ bytes: Int) -> ByteBuffer { ByteBuffer(repeating: UInt8(ascii: "x"), count: bytes) }

    @Test func aQueuePastItsHighWaterMarkHoldsItsPublisherUntilItDrains() throws {
        let subscriber = EmbeddedChannel()
        let publisher = EmbeddedChannel()
        let counters = FlowCounters()
        let queue = OutboundQueue(channel: subscriber, flow: Self.smallFlow, counters: counters)
        let gate = ReadGate(channel: publisher)
        try publisher.pipeline.syncOperations.addHandler(gate)
        subscriber.isWritable = false
        var routing = RoutingScratch()
        for _ in 0..<40 {
            let outcome = queue.enqueueDeferringDrain(Self.stanza(1000))
            #expect(!outcome.dropped)
            if outcome.congested { routing.noteCongested(queue) }
        }
        #expect(routing.congested.count == 1)
        routing.finishRead(gate: gate)
        #expect(gate.isHeld)
        #expect(counters.publisherStalls.load(ordering: .relaxed) == 1)
        // The held publisher's read does not reach the socket.
        publisher.read()
        // The socket takes everything: below the low-water mark the gate opens.
        subscriber.isWritable = true
        queue.drain()
        #expect(!gate.isHeld)
        var written = 0
        while let chunk = try subscriber.readOutbound(as: ByteBuffer.self) { written += chunk.readableBytes }
        #expect(written == 40_000)
        #expect(queue.counters.pendingBytes == 0)
    }

    /// When a subscriber passes its high-water mark, a publisher that does not stop within its read
    /// (a peer link) may have a whole read under way: at the default budget, sixteen of the
    /// largest reads (256 KiB, half as much again once written out as deliveries) still fit,
    /// and each publisher is held back.
    @Test func theReadsOfSixteenPublishersUnderWayWhenASubscriberPassesItsMarkAllFit() throws {
        let flow = FlowControl.clientDefault
        let subscriber = EmbeddedChannel()
        subscriber.isWritable = false
        let counters = FlowCounters()
        let queue = OutboundQueue(channel: subscriber, flow: flow, counters: counters)
        // The subscriber is just below its mark when the sixteen reads arrive.
        let stanzaBytes = 384
        var queued = 0
        while queued + stanzaBytes <= flow.highWaterBytes {
            #expect(!queue.enqueueDeferringDrain(Self.stanza(stanzaBytes)).congested)
            queued += stanzaBytes
        }
        let readDeliveries = (256 << 10) * 3 / 2 / stanzaBytes
        var gates: [ReadGate] = []
        for _ in 0..<16 {
            let publisher = EmbeddedChannel()
            let gate = ReadGate(channel: publisher)
            try publisher.pipeline.syncOperations.addHandler(gate)
            gates.append(gate)
            var batch = ByteBuffer()
            for _ in 0..<readDeliveries { batch.writeImmutableBuffer(Self.stanza(stanzaBytes)) }
            let outcome = queue.enqueueDeferringDrain(
                batch: batch,
                sizes: Array(repeating: stanzaBytes, count: readDeliveries)
            )
            #expect(!outcome.dropped)
            #expect(outcome.congested)
            var routing = RoutingScratch()
            routing.noteCongested(queue)
            routing.finishRead(gate: gate)
            queued += readDeliveries * stanzaBytes
        }
        #expect(queue.droppedCount == 0)
        #expect(queue.counters.pendingBytes == queued)
        #expect(gates.allSatisfy { $0.isHeld })
        #expect(counters.publisherStalls.load(ordering: .relaxed) == 16)
        // The subscriber takes it all: every publisher is read again.
        subscriber.isWritable = true
        queue.drain()
        #expect(gates.allSatisfy { !$0.isHeld })
        var written = 0
        while let chunk = try subscriber.readOutbound(as: ByteBuffer.self) { written += chunk.readableBytes }
        #expect(written == queued)
    }

    @Test func beyondTheBudgetDeliveriesAreDroppedAndCounted() {
        let subscriber = EmbeddedChannel()
        subscriber.isWritable = false
        let queue = OutboundQueue(channel: subscriber, flow: Self.smallFlow)
        var dropped = 0
        for _ in 0..<100 where queue.enqueueDeferringDrain(Self.stanza(1000)).dropped { dropped += 1 }
        #expect(dropped == 100 - 65)
        #expect(queue.droppedCount == dropped)
    }

    /// A reader's batch gets, stanza for stanza, the verdicts one-by-one enqueues would: the same
    /// bytes queued in the same order, the same drops counted.
    @Test(arguments: [0, 20_000, 63_000, 64_000])
    func aBatchIsQueuedAsItsStanzasWouldBeOneByOne(alreadyWaiting: Int) throws {
        var generator = SplitMix64(seed: 0xBA7C_0000 + UInt64(alreadyWaiting))
        let sizes = (0..<80).map { _ in Int.random(in: 1...2_000, using: &generator) }
        func run(batched: Bool) throws -> (bytes: [UInt8], dropped: Int, counted: Int, congested: Bool) {
            let subscriber = EmbeddedChannel()
            subscriber.isWritable = false
            let counters = FlowCounters()
            let queue = OutboundQueue(channel: subscriber, flow: Self.smallFlow, counters: counters)
            if alreadyWaiting > 0 { queue.enqueue(Self.stanza(alreadyWaiting)) }
            var congested = false
            let stanzas = sizes.enumerated().map { index, size in
                ByteBuffer(repeating: UInt8(truncatingIfNeeded: index), count: size)
            }
            if batched {
                var batch = RoutingScratch.Batch()
                for stanza in stanzas { batch.add(stanza) }
                congested = queue.enqueueDeferringDrain(batch: batch.bytes, sizes: batch.sizes).congested
            } else {
                for stanza in stanzas where queue.enqueueDeferringDrain(stanza).congested { congested = true }
            }
            subscriber.isWritable = true
            queue.drain()
            var bytes: [UInt8] = []
            while let chunk = try subscriber.readOutbound(as: ByteBuffer.self) { bytes += chunk.readableBytesView }
            return (bytes, queue.droppedCount, counters.batchedDrops.load(ordering: .relaxed), congested)
        }
        let single = try run(batched: false)
        let batched = try run(batched: true)
        #expect(batched.bytes == single.bytes)
        #expect(batched.dropped == single.dropped)
        #expect(batched.counted == batched.dropped)
        #expect(batched.congested == single.congested)
        if alreadyWaiting >= 63_000 { #expect(single.dropped > 0) }
    }

    @Test func aQueueThatTakesNothingLetsItsPublishersGoThenIsDisconnectedWithAStreamError() throws {
        let subscriber = EmbeddedChannel()
        let publisher = EmbeddedChannel()
        let counters = FlowCounters()
        let queue = OutboundQueue(channel: subscriber, flow: Self.smallFlow, counters: counters)
        let gate = ReadGate(channel: publisher)
        try subscriber.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // One whole stanza reaches the socket before it stops taking bytes.
        queue.enqueue(ByteBuffer(string: "<message>first</message>"))
        (subscriber.eventLoop as! EmbeddedEventLoop).run()
        subscriber.isWritable = false
        for _ in 0..<40 { queue.enqueue(Self.stanza(1000)) }
        queue.holdBack(gate)
        #expect(gate.isHeld)
        let start = ContinuousClock.now
        #expect(queue.checkProgress(now: start) == .moving)
        #expect(queue.checkProgress(now: start.advanced(by: .seconds(1))) == .moving)
        #expect(
            queue.checkProgress(now: start.advanced(by: .seconds(2)))
                == .stallExpired(publishers: 1, pendingBytes: 40_000)
        )
        #expect(!gate.isHeld)
        // Past the stall time the queue no longer holds publishers back.
        #expect(!queue.enqueueDeferringDrain(Self.stanza(100)).congested)
        #expect(queue.checkProgress(now: start.advanced(by: .seconds(4))) == .moving)
        #expect(queue.checkProgress(now: start.advanced(by: .seconds(5))) == .slowConsumer(pendingBytes: 40_100))
        (subscriber.eventLoop as! EmbeddedEventLoop).run()
        var text = ""
        while let chunk = try subscriber.readOutbound(as: ByteBuffer.self) { text += String(buffer: chunk) }
        #expect(
            text.hasPrefix(
                "<message>first</message><stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            )
        )
        #expect(text.contains("slow consumer"))
        #expect(text.hasSuffix("</stream:error></stream:stream>"))
        #expect(counters.stallTimeouts.load(ordering: .relaxed) == 1)
        #expect(counters.slowConsumerDisconnects.load(ordering: .relaxed) == 1)
        #expect(queue.isSlowConsumer)
        #expect(!subscriber.isActive)
    }

    @Test func aReaderTakingALargeBatchPieceByPieceShowsProgressBeforeTheWholeBatchIsOut() throws {
        let subscriber = EmbeddedChannel()
        let socket = SlowSocket()
        try subscriber.pipeline.syncOperations.addHandler(socket)
        let queue = OutboundQueue(channel: subscriber, flow: FlowControl.clientDefault)
        subscriber.isWritable = false
        for _ in 0..<1000 { _ = queue.enqueueDeferringDrain(Self.stanza(1000)) }
        subscriber.isWritable = true
        queue.drain()
        let batch = 1_000_000
        let piece = OutboundQueue.writeChunkBytes
        #expect(socket.heldWrites == (batch + piece - 1) / piece)
        let start = ContinuousClock.now
        #expect(queue.checkProgress(now: start) == .moving)
        // One piece taken every four seconds: the 5 s write deadline never passes without
        // progress, though the whole batch takes a minute.
        for step in 1...socket.heldWrites {
            socket.take(1)
            #expect(queue.checkProgress(now: start.advanced(by: .seconds(4 * step))) == .moving)
            #expect(queue.counters.pendingBytes == max(0, batch - step * piece))
        }
        var written = 0
        while let chunk = try subscriber.readOutbound(as: ByteBuffer.self) { written += chunk.readableBytes }
        #expect(written == batch)
    }

    @Test func aSlowButSteadyReaderLosesNothingOfABurstOf200000Events() async throws {
        let events = 200_000
        // The router's clock stands still, so however long the machine keeps the reader from
        // running, neither stall time nor write deadline passes: the test checks the budget alone.
        let instant = ContinuousClock.now
        try await withEventServer(configure: { $0.flow = Self.liveFlow }, router: EventRouter(now: { instant })) {
            port,
            _,
            router in
            var (_, inbound, out) = try await loggedIn(port: port, service: "slow", readChunkBytes: 2048)
            try await out.write(ByteBuffer(string: leaseStanza("/burst/", identifier: "slow")))
            _ = try await inbound.read(until: "<op>lease</op>")
            let (_, _, publisher) = try await loggedIn(port: port, service: "pub")
            let sending = Task {
                for first in stride(from: 0, to: events, by: 1000) {
                    let batch = (first..<(first + 1000)).map { eventStanza("/burst/", body: "\($0)") }.joined()
                    try await publisher.write(ByteBuffer(string: batch))
                }
            }
            let reading = Task { [inbound] in
                var inbound = inbound
                var sequences = SequenceReader()
                while sequences.count < events, let chunk = await inbound.next() { sequences.take(chunk) }
                return sequences
            }
            let sequences = try await within(seconds: 300, "\(events) events") { await reading.value }
            try await sending.value
            #expect(sequences.count == events)
            #expect(sequences.inOrder)
            let statistics = router.statistics
            // However far behind the reader fell, it was held to its budget without a loss.
            #expect(statistics.dropped == 0)
        }
    }

    /// Forty publishers burst at once into one subscriber that reads slowly but steadily, at the
    /// default budget. Each stops within its read once the subscriber is past its mark (forty
    /// reads of 256 KiB would overrun the budget), and goes on when it drains: nothing is lost,
    /// and each publisher's events arrive in order.
    @Test func fortyPublishersBurstingIntoOneSteadyReaderLoseNothing() async throws {
        let publishers = 40
        let events = 5_000
        // The router's clock stands still: the test checks the budget alone.
        let instant = ContinuousClock.now
        try await withEventServer(
            configure: { $0.flow = FlowControl.clientDefault },
            router: EventRouter(now: { instant })
        ) {
            port,
            _,
            router in
            var (_, inbound, out) = try await loggedIn(port: port, service: "slow", readChunkBytes: 2048)
            try await out.write(ByteBuffer(string: leaseStanza("/many/", identifier: "slow")))
            _ = try await inbound.read(until: "<op>lease</op>")
            var senders: [LoadConnection] = []
            for index in 0..<publishers {
                senders.append(try await loggedIn(port: port, service: "pub\(index)").2)
            }
            let sending = Task { [senders] in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, sender) in senders.enumerated() {
                        group.addTask {
                            for first in Swift.stride(from: 0, to: events, by: 1000) {
                                let batch = (first..<(first + 1000)).map {
                                    eventStanza("/many/", body: "\(index * 1_000_000 + $0)")
                                }
                                try await sender.write(ByteBuffer(string: batch.joined()))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let reading = Task { [inbound] in
                var inbound = inbound
                var sequences = SequenceReader(stride: 1_000_000)
                while sequences.count < publishers * events, let chunk = await inbound.next() { sequences.take(chunk) }
                return sequences
            }
            let sequences = try await within(seconds: 300, "\(publishers * events) events") { await reading.value }
            try await sending.value
            #expect(sequences.count == publishers * events)
            #expect(sequences.inOrder)
            let statistics = router.statistics
            #expect(statistics.dropped == 0)
            #expect(statistics.stalls > 0)
        }
    }

    @Test func aSubscriberThatStopsReadingIsCutOffAfterTheWriteDeadlineAndTheOthersLoseNothing() async throws {
        let time = ManualTime()
        let router = EventRouter(now: { time.now })
        let events = 20_000
        // Stall time and write deadline alike, so one move of the clock ends the stuck one while
        // the publisher is still held (the stall time alone is checked above).
        let flow = FlowControl(pendingBudgetBytes: 1 << 20, writeDeadlineSeconds: 5, stallSeconds: 5)
        try await withEventServer(configure: { $0.flow = flow }, router: router) { port, _, router in
            var (stuck, stuckInbound, stuckOut) = try await loggedIn(port: port, service: "stuck")
            try await stuckOut.write(ByteBuffer(string: leaseStanza("/cut/", identifier: "s")))
            _ = try await stuckInbound.read(until: "<op>lease</op>")
            try await stuck.pauseReading()
            var readers: [Task<SequenceReader, any Error>] = []
            for index in 0..<3 {
                var (_, inbound, out) = try await loggedIn(port: port, service: "reader\(index)")
                try await out.write(ByteBuffer(string: leaseStanza("/cut/", identifier: "r")))
                _ = try await inbound.read(until: "<op>lease</op>")
                readers.append(
                    Task { [inbound] in
                        var inbound = inbound
                        var sequences = SequenceReader()
                        while sequences.count < events, let chunk = await inbound.next() { sequences.take(chunk) }
                        return sequences
                    }
                )
            }
            let (_, _, publisher) = try await loggedIn(port: port, service: "pub")
            let padding = String(repeating: "p", count: 1000)
            let sending = Task {
                for first in stride(from: 0, to: events, by: 100) {
                    let batch = (first..<(first + 100)).map {
                        eventStanza("/cut/", body: "\($0)</v><w>\(padding)</w><v>-")
                    }.joined()
                    try await publisher.write(ByteBuffer(string: batch))
                }
            }
            // The stuck subscriber's queue fills past its high-water mark and holds the publisher
            // (which stops within its read). Its kernel buffers may still take a little after that:
            // what stays waiting is above the low-water mark, so the publisher stays held.
            try await eventually(seconds: 60, "the stuck subscriber's queue passes its low-water mark") {
                router.connectionStatuses().contains { $0.account == "stuck" && $0.pendingBytes > flow.lowWaterBytes }
            }
            try await eventually(seconds: 60, "the publisher is held back") { router.statistics.stalls > 0 }
            // With the publisher held, the readers take everything they were sent.
            try await eventually(seconds: 60, "the readers catch up") {
                router.connectionStatuses().filter { $0.account?.hasPrefix("reader") == true }.allSatisfy {
                    $0.pendingBytes == 0
                }
            }
            // The kernel may still be taking some of the stuck one's bytes (progress, which
            // restarts its deadline), so the clock is moved until a whole deadline passes
            // without any.
            // The clock moves only while the readers have nothing waiting, checked on both sides
            // of the first look: were the stuck one's kernel buffers to take bytes and let the
            // publisher go for a moment, a reader must not look stuck because the clock jumped
            // while its bytes were in flight.
            let readersIdle: @Sendable () -> Bool = {
                router.connectionStatuses().filter { $0.account?.hasPrefix("reader") == true }.allSatisfy {
                    $0.pendingBytes == 0
                }
            }
            try await eventually(seconds: 60, "the stuck subscriber is cut off") {
                guard readersIdle() else { return false }
                _ = router.enforceFlowDeadlines()
                guard readersIdle() else { return false }
                time.advance(seconds: 5)
                _ = router.enforceFlowDeadlines()
                return router.statistics.slowConsumerDisconnects > 0
            }
            #expect(router.statistics.slowConsumerDisconnects == 1)
            // The stuck one reads again at once (it is closed anyway one more deadline later).
            try await stuck.resumeReading()
            let farewell = Task { [stuckInbound] in
                var inbound = stuckInbound
                return await inbound.readToEnd()
            }
            // The publisher resumes; the readers get every event, in order.
            try await within(seconds: 120, "the publisher's events") { try await sending.value }
            for reader in readers {
                let sequences = try await within(seconds: 120, "a reader's events") { try await reader.value }
                #expect(sequences.count == events)
                #expect(sequences.inOrder)
            }
            // Reading again, the stuck one finds whole stanzas, then the stream error and end.
            let text = try await within(seconds: 120, "the stuck subscriber's stream end") { await farewell.value }
            let error = try #require(text.range(of: "<stream:error><policy-violation"))
            #expect(text[..<error.lowerBound].hasSuffix("</message>"), "\(text[..<error.lowerBound].suffix(300))")
            #expect(text.hasSuffix("</stream:error></stream:stream>"))
        }
    }
}

/// Reads the `<v>N</v>` sequence numbers (other `<v>` are passed over) out of a subscriber's byte stream, chunk by chunk.
/// Numbers in different multiples of `stride` are different publishers' sequences, each in order on its own.
struct SequenceReader {
    private var carry: [UInt8] = []
    private(set) var count = 0
    private(set) var inOrder = true
    private let stride: Int
    private var last: [Int: Int] = [:]

    init(stride: Int = .max) { self.stride = stride }

    mutating func take(_ chunk: ByteBuffer) {
        carry.append(contentsOf: chunk.readableBytesView)
        let open = Array("<v>".utf8)
        var consumed = 0
        carry.withUnsafeBufferPointer { bytes in
            var index = 0
            while index + 3 <= bytes.count {
                guard bytes[index] == open[0], bytes[index + 1] == open[1], bytes[index + 2] == open[2] else {
                    index += 1
                    continue
                }
                var end = index + 3
                var value = 0
                while end < bytes.count, bytes[end] >= 0x30, bytes[end] <= 0x39 {
                    value = value * 10 + Int(bytes[end] - 0x30)
                    end += 1
                }
                guard end < bytes.count else { break }  // the number may go on in the next chunk
                guard end > index + 3 else {
                    index = end
                    continue
                }
                let sequence = value / stride
                let number = value % stride
                if number != last[sequence, default: -1] + 1 { inOrder = false }
                last[sequence] = number
                count += 1
                index = end
                consumed = end
            }
            if consumed == 0 { consumed = max(0, bytes.count - 16) }
        }
        carry.removeFirst(consumed)
    }
}

/// A socket that takes written bytes only when told to: it holds each write (and its promise)
/// until ``take(_:)`` passes it on.
final class SlowSocket: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private var held: [(NIOAny, EventLoopPromise<Void>?)] = []
    private var context: ChannelHandlerContext?

    var heldWrites: Int { held.count }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        held.append((data, promise))
    }

    func flush(context: ChannelHandlerContext) {}

    /// Passes the first `count` held writes to the socket.
    func take(_ count: Int) {
        guard let context else { return }
        for (data, promise) in held.prefix(count) { context.write(data, promise: promise) }
        held.removeFirst(min(count, held.count))
        context.flush()
    }
}
