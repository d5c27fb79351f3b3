import NIOCore
import PsEPRCore
import Synchronization

/// One connection's outbound stanzas, bounded in bytes, never blocking the router.
///
/// The router enqueues from whichever thread routed the event and moves on. Single stanzas are
/// copied into a buffer of the queue's own as they are queued (a few hundred bytes each: cheaper
/// than keeping a buffer per stanza and joining them at write time); a reader's batch, most of
/// its buffer used, is kept as it is, shared with the reader's other subscribers (copying tens
/// of kilobytes onto what waits would cost more than one more buffer to write). A drain hands
/// the socket those few buffers however many stanzas they hold. The first stanza after a drain schedules one drain on the
/// connection's event loop, so stanzas arriving meanwhile go out in the same batch with a
/// single flush. A drain hands bytes to the socket only while it is writable; when the peer
/// stops reading they stay here. The bytes count as pending until the socket has taken them,
/// and ``FlowControl`` decides what happens as they grow.
///
/// A peer link's queue numbers what it sends: each stanza goes out inside
/// `<peerMessage seq='N'>…</peerMessage>`, N counting from 1, numbered as it is queued, so
/// the numbers follow the order on the wire.
final class OutboundQueue: Sendable, Hashable {
    static func == (lhs: OutboundQueue, rhs: OutboundQueue) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    private struct State {
        /// The bytes of the stanzas queued and not yet handed to the socket, in order: batches
        /// kept as they came (shared, never written to) and buffers of the queue's own.
        var pending: [ByteBuffer] = []
        /// Whether the last of ``pending`` is the queue's own, to copy single stanzas onto.
        var lastIsOwn = false
        /// Stanzas in ``pending``.
        var queuedCount = 0
        /// The size of the last batch a drain took: the next buffer starts that large, so it
        /// rarely has to grow (each growth copies what it holds).
        var lastBatchBytes = 0
        /// Bytes queued or written and not yet taken by the socket.
        var pendingBytes = 0
        var drainScheduled = false
        var dropped = 0
        var closed = false
        var slowConsumer = false
        var delivered = 0
        var nextSequence: UInt64 = 1
        var account: String?
        /// Publishers' gates this queue holds shut.
        var holding: [ReadGate] = []
        /// Set when the stall time ran out: publishers are no longer held back for this queue
        /// until it takes bytes again.
        var stallExpired = false
        /// Writes the socket has completed, and what the last progress check saw.
        var writesCompleted: UInt64 = 0
        var writesSeen: UInt64 = 0
        var lastProgress: ContinuousClock.Instant?
        /// Whether nothing was waiting at the last check: bytes queued since start the clock now.
        var emptyAtLastCheck = true
    }

    let channel: any Channel
    /// Client or peer link.
    let role: ConnectionRole
    /// The byte budget and deadlines.
    let flow: FlowControl
    /// Stanzas (events, lease operations) received from the other end, for status reports.
    let received = Atomic<Int>(0)
    /// Bytes read from and written to the other end, for the metrics.
    let bytesReceived = Atomic<Int>(0)
    let bytesSent = Atomic<Int>(0)
    private let state = Mutex(State())
    /// ``State/pendingBytes`` and ``State/stallExpired`` as of their last change, read without the
    /// lock by a reader deciding whether its batch would take this queue past the mark
    /// (``RoutingScratch/passedHighWater()``).
    private let pendingBytesSeen = Atomic<Int>(0)
    private let stallExpiredSeen = Atomic<Bool>(false)
    private let flowCounters: FlowCounters

    init(
        channel: any Channel,
        role: ConnectionRole = .client,
        flow: FlowControl,
        counters: FlowCounters = FlowCounters()
    ) {
        self.channel = channel
        self.role = role
        self.flow = flow
        self.flowCounters = counters
    }

    /// The service the client logged in as, or the peer's ID.
    var account: String? {
        get { state.withLock { $0.account } }
        set { state.withLock { $0.account = newValue } }
    }

    /// Whether `bytes` more would take the queue past its high-water mark and so hold its
    /// publisher back, by its state as last seen (a hint: the enqueue decides).
    func wouldPassHighWater(adding bytes: Int) -> Bool {
        pendingBytesSeen.load(ordering: .relaxed) + bytes > flow.highWaterBytes
            && !stallExpiredSeen.load(ordering: .relaxed)
    }

    /// Counters for status reports.
    var counters: (delivered: Int, dropped: Int, queued: Int, pendingBytes: Int) {
        state.withLock { ($0.delivered, $0.dropped, $0.queuedCount, $0.pendingBytes) }
    }

    /// What an enqueue did.
    struct Enqueued {
        /// Queued, and the caller must see that ``scheduleDrain()`` is called.
        var needsDrain = false
        /// Queued past the high-water mark: the caller should hold back the publisher.
        var congested = false
        /// Dropped: over the byte budget.
        var dropped = false
    }

    /// Queues `stanza` and schedules a drain if none is pending; returns false if it was dropped.
    @discardableResult
    func enqueue(_ stanza: ByteBuffer) -> Bool {
        let outcome = enqueueDeferringDrain(stanza)
        if outcome.needsDrain { scheduleDrain() }
        return !outcome.dropped
    }

    /// Queues `stanza`, leaving the drain to the caller: a reader routing a whole read's worth of
    /// events schedules each touched queue's drain once, at the end of the read.
    func enqueueDeferringDrain(_ stanza: ByteBuffer) -> Enqueued {
        let size = stanza.readableBytes
        let budget = flow.pendingBudgetBytes
        let highWater = flow.highWaterBytes
        return state.withLock { state -> Enqueued in
            // A closed queue's subscriber is gone: nothing it could have read is lost.
            guard !state.closed else { return Enqueued() }
            // One stanza always fits an empty queue, whatever its size.
            guard state.pendingBytes == 0 || state.pendingBytes + size <= budget else {
                state.dropped += 1
                return Enqueued(dropped: true)
            }
            let last = ownTail(of: &state, room: size + (role == .peer ? Self.peerFraming : 0))
            let written: Int
            if role == .peer {
                // Written in place in the array, so the buffer is never shared while it grows.
                let before = state.pending[last].writerIndex
                PeerWire.writeNumbered(stanza, sequence: state.nextSequence, into: &state.pending[last])
                state.nextSequence += 1
                written = state.pending[last].writerIndex - before
            } else {
                written = state.pending[last].writeImmutableBuffer(stanza)
            }
            state.pendingBytes += written
            pendingBytesSeen.store(state.pendingBytes, ordering: .relaxed)
            state.queuedCount += 1
            state.delivered += 1
            var outcome = Enqueued(congested: state.pendingBytes > highWater && !state.stallExpired)
            if !state.drainScheduled {
                state.drainScheduled = true
                outcome.needsDrain = true
            }
            return outcome
        }
    }

    /// The smallest allocation of a queue's buffer after a drain; it grows as stanzas come.
    static let initialPendingCapacity = 16 << 10

    /// The index of the queue's own buffer at the end of `pending`, started with room for at
    /// least `size` bytes when there is none there (after a drain, or a batch kept as it came).
    private func ownTail(of state: inout State, room size: Int) -> Int {
        if !state.lastIsOwn {
            state.pending.append(newPending(size, lastBatch: state.lastBatchBytes))
            state.lastIsOwn = true
        }
        return state.pending.count - 1
    }

    /// A buffer for the stanzas queued after a drain, with room for a batch like the last.
    private func newPending(_ size: Int, lastBatch: Int) -> ByteBuffer {
        channel.allocator.buffer(
            capacity: max(Self.initialPendingCapacity, size, min(lastBatch + lastBatch / 4, flow.pendingBudgetBytes))
        )
    }
    /// Room for a peer link's `<peerMessage seq='N'>…</peerMessage>` around a stanza.
    static let peerFraming = 48

    /// Queues a client connection's batch, `batch` holding stanzas of `sizes` bytes one after
    /// another, with the same verdict for each as ``enqueueDeferringDrain(_:)`` one by one; the
    /// drops are counted here and in the router's ``FlowCounters/batchedDrops``.
    func enqueueDeferringDrain(batch: ByteBuffer, sizes: [Int]) -> Enqueued {
        let total = batch.readableBytes
        let budget = flow.pendingBudgetBytes
        let highWater = flow.highWaterBytes
        var dropped = 0
        let outcome = state.withLock { state -> Enqueued in
            guard !state.closed, !sizes.isEmpty else { return Enqueued() }
            if state.pendingBytes + total <= budget || (state.pendingBytes == 0 && sizes.count == 1) {
                // Everything fits (the usual case): the batch is kept as it is (a reader's batch
                // comes in a buffer at most twice its size), or, when it uses less than half of its
                // buffer and others wait, copied onto the queue's own, so what waits is held in at
                // most twice the bytes the budget counts.
                if state.pending.isEmpty || total * 2 >= batch.capacity {
                    state.pending.append(batch)
                    state.lastIsOwn = false
                } else {
                    state.pending[ownTail(of: &state, room: total)].writeImmutableBuffer(batch)
                }
                state.pendingBytes += total
                state.queuedCount += sizes.count
                state.delivered += sizes.count
            } else {
                var offset = batch.readerIndex
                for size in sizes {
                    defer { offset += size }
                    guard state.pendingBytes == 0 || state.pendingBytes + size <= budget else {
                        dropped += 1
                        continue
                    }
                    let stanza = batch.getSlice(at: offset, length: size)!
                    state.pending[ownTail(of: &state, room: size)].writeImmutableBuffer(stanza)
                    state.pendingBytes += size
                    state.queuedCount += 1
                    state.delivered += 1
                }
                state.dropped += dropped
            }
            pendingBytesSeen.store(state.pendingBytes, ordering: .relaxed)
            var outcome = Enqueued(congested: state.pendingBytes > highWater && !state.stallExpired)
            if !state.drainScheduled && state.pendingBytes > 0 {
                state.drainScheduled = true
                outcome.needsDrain = true
            }
            return outcome
        }
        if dropped > 0 { flowCounters.batchedDrops.add(dropped, ordering: .relaxed) }
        return outcome
    }

    /// Holds `gate` shut until this queue drains below its low-water mark (or its stall time
    /// runs out); nothing if it has drained meanwhile or holds the gate already.
    func holdBack(_ gate: ReadGate) {
        let wasOpen = gate.hold()
        let held = state.withLock { state -> Bool in
            guard !state.closed, !state.stallExpired, state.pendingBytes > flow.lowWaterBytes,
                !state.holding.contains(where: { $0 === gate })
            else {
                return false
            }
            state.holding.append(gate)
            return true
        }
        if !held {
            gate.release()
        } else if wasOpen {
            flowCounters.publisherStalls.add(1, ordering: .relaxed)
        }
    }

    /// Runs ``drain()`` on the connection's event loop.
    func scheduleDrain() {
        channel.eventLoop.execute { self.drain() }
    }

    /// Writes what is waiting while the socket takes it, then flushes. Runs on the event loop;
    /// called after an enqueue and whenever the channel becomes writable again.
    func drain() {
        guard channel.isWritable else {
            state.withLock { $0.drainScheduled = false }
            return
        }
        let buffers = takePending(closing: false)
        guard !buffers.isEmpty else { return }
        // Written in pieces of at most 64 KiB, each with its own completion: a reader that takes
        // a large batch slowly shows progress piece by piece (and frees its budget as it goes)
        // instead of only once the whole batch is out, which could outlast the write deadline.
        for var buffer in buffers {
            bytesSent.add(buffer.readableBytes, ordering: .relaxed)
            while buffer.readableBytes > 0 {
                let piece = buffer.readSlice(length: min(buffer.readableBytes, Self.writeChunkBytes))!
                let credit = piece.readableBytes
                channel.write(piece).whenComplete { _ in self.written(credit) }
            }
        }
        channel.flush()
    }

    /// The largest piece of a batch handed to the socket with a completion of its own.
    static let writeChunkBytes = 64 << 10

    /// The socket took `bytes` (or the connection failed and never will): publishers held back
    /// are let go once the queue is below its low-water mark.
    private func written(_ bytes: Int) {
        let released = state.withLock { state -> [ReadGate] in
            state.pendingBytes -= bytes
            pendingBytesSeen.store(state.pendingBytes, ordering: .relaxed)
            state.writesCompleted &+= 1
            state.stallExpired = false
            stallExpiredSeen.store(false, ordering: .relaxed)
            guard state.pendingBytes <= flow.lowWaterBytes, !state.holding.isEmpty else { return [] }
            defer { state.holding.removeAll() }
            return state.holding
        }
        for gate in released { gate.release() }
    }

    /// Writes everything waiting (writable or not: these are the last few stanzas), then closes
    /// the connection once they are out. Runs on the event loop.
    func flushThenClose() {
        let channel = self.channel
        let buffers = takePending(closing: true)
        guard let last = buffers.last else {
            channel.close(promise: nil)
            return
        }
        for buffer in buffers.dropLast() {
            bytesSent.add(buffer.readableBytes, ordering: .relaxed)
            channel.write(buffer, promise: nil)
        }
        bytesSent.add(last.readableBytes, ordering: .relaxed)
        channel.writeAndFlush(last).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Empties the queue: what it held, in order, none empty.
    private func takePending(closing: Bool) -> [ByteBuffer] {
        state.withLock { state in
            state.drainScheduled = false
            if closing { state.closed = true }
            defer {
                state.lastBatchBytes = state.lastIsOwn ? state.pending.last!.readableBytes : 0
                state.pending = []
                state.lastIsOwn = false
                state.queuedCount = 0
            }
            return state.pending.allSatisfy({ $0.readableBytes > 0 })
                ? state.pending : state.pending.filter { $0.readableBytes > 0 }
        }
    }

    /// What a progress check found.
    enum Progress: Equatable {
        /// Taking bytes, or nothing waiting.
        case moving
        /// Took nothing for the stall time: `publishers` held back were let go.
        case stallExpired(publishers: Int, pendingBytes: Int)
        /// Took nothing for the write deadline: being disconnected.
        case slowConsumer(pendingBytes: Int)
    }

    /// Compares the socket's progress with the previous check's, at `now` (a connection counts as
    /// stuck from the first check that finds bytes waiting and none taken since); past the stall time
    /// lets held-back publishers go, past the write deadline disconnects the connection with a
    /// stream error. Called every fraction of a second by the router's flow watch.
    func checkProgress(now: ContinuousClock.Instant) -> Progress {
        let stall = Duration.milliseconds(Int64(flow.stallSeconds * 1000))
        let deadline = Duration.milliseconds(Int64(flow.writeDeadlineSeconds * 1000))
        let (progress, released) = state.withLock { state -> (Progress, [ReadGate]) in
            guard !state.closed else { return (.moving, []) }
            guard let lastProgress = state.lastProgress, !state.emptyAtLastCheck, state.pendingBytes > 0,
                state.writesCompleted == state.writesSeen
            else {
                state.emptyAtLastCheck = state.pendingBytes == 0
                state.writesSeen = state.writesCompleted
                state.lastProgress = now
                return (.moving, [])
            }
            let stuck = now - lastProgress
            if stuck >= deadline {
                let pendingBytes = state.pendingBytes
                state.closed = true
                state.slowConsumer = true
                // What was never handed to the socket is lost with the connection; a peer link's
                // farewell takes the number after the last stanza it was sent.
                state.dropped += state.queuedCount
                if role == .peer { state.nextSequence -= UInt64(state.queuedCount) }
                state.pending = []
                state.lastIsOwn = false
                state.queuedCount = 0
                defer { state.holding.removeAll() }
                return (.slowConsumer(pendingBytes: pendingBytes), state.holding)
            }
            guard stuck >= stall, !state.holding.isEmpty else { return (.moving, []) }
            state.stallExpired = true
            stallExpiredSeen.store(true, ordering: .relaxed)
            defer { state.holding.removeAll() }
            return (.stallExpired(publishers: state.holding.count, pendingBytes: state.pendingBytes), state.holding)
        }
        for gate in released { gate.release() }
        switch progress {
        case .moving: break
        case .stallExpired: flowCounters.stallTimeouts.add(1, ordering: .relaxed)
        case .slowConsumer:
            flowCounters.slowConsumerDisconnects.add(1, ordering: .relaxed)
            channel.eventLoop.execute {
                self.sayGoodbye(
                    reason: "slow consumer: took no bytes for \(Self.seconds(self.flow.writeDeadlineSeconds)) s"
                )
            }
        }
        return progress
    }

    /// Ends a connection the server gives up on: after the last whole stanza already handed to
    /// the socket, a stream error naming the reason and the end of the stream (a peer link: a
    /// numbered `<error>`), then the close; closed anyway if even that is not taken within the
    /// write deadline.
    private func sayGoodbye(reason: String) {
        var farewell: ByteBuffer
        if role == .peer {
            let sequence = state.withLock { state in
                defer { state.nextSequence += 1 }
                return state.nextSequence
            }
            farewell = channel.allocator.buffer(capacity: 128 + reason.utf8.count)
            PeerWire.writeNumbered(PeerWire.element(.error(reason: reason)), sequence: sequence, into: &farewell)
        } else {
            farewell = ByteBuffer(bytes: StanzaEncoder.streamErrorAndEnd(condition: "policy-violation", text: reason))
        }
        let channel = self.channel
        channel.writeAndFlush(farewell).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: .milliseconds(Int64(flow.writeDeadlineSeconds * 1000))) {
            channel.close(promise: nil)
        }
    }

    private static func seconds(_ value: Double) -> String { value == value.rounded() ? "\(Int(value))" : "\(value)" }

    /// Stops accepting stanzas (the connection has closed) and lets go of held-back publishers.
    func close() {
        let released = state.withLock { state -> [ReadGate] in
            state.closed = true
            state.pending = []
            state.lastIsOwn = false
            state.queuedCount = 0
            defer { state.holding.removeAll() }
            return state.holding
        }
        for gate in released { gate.release() }
    }

    /// Stanzas dropped because the budget was spent (or lost with a slow consumer's connection).
    var droppedCount: Int { state.withLock { $0.dropped } }

    /// Whether the connection is being closed for taking nothing within its write deadline.
    var isSlowConsumer: Bool { state.withLock { $0.slowConsumer } }
}
