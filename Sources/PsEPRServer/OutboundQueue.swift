import NIOCore
import Synchronization

/// One connection's outbound stanzas: bounded, never blocking the router.
///
/// The router enqueues from whichever thread routed the event and moves on. The first stanza
/// after a drain schedules one drain on the connection's event loop, so stanzas arriving
/// meanwhile go out in the same batch with a single flush. A drain hands stanzas to the socket
/// only while it is writable; when the peer stops reading they stay here, and once
/// `capacity` are waiting the newest are dropped and counted, so one slow subscriber never slows
/// the others. A subscriber that keeps the queue full for `disconnectAfterDrops` consecutive
/// stanzas is disconnected (``isOverrun``).
final class OutboundQueue: Sendable, Hashable {
    static func == (lhs: OutboundQueue, rhs: OutboundQueue) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    private struct State {
        var pending = CircularBuffer<ByteBuffer>(initialCapacity: 16)
        var drainScheduled = false
        var dropped = 0
        var droppedInARow = 0
        var overrun = false
        var closed = false
    }

    let channel: any Channel
    private let state = Mutex(State())
    private let capacity: Int
    private let disconnectAfterDrops: Int

    init(channel: any Channel, capacity: Int, disconnectAfterDrops: Int) {
        self.channel = channel
        self.capacity = max(1, capacity)
        self.disconnectAfterDrops = max(1, disconnectAfterDrops)
    }

    /// What an enqueue did.
    enum Enqueued {
        /// Queued; a drain is already on its way.
        case queued
        /// Queued, and the caller must see that ``scheduleDrain()`` is called.
        case queuedNeedingDrain
        /// Dropped: the queue is full or closed.
        case dropped
    }

    /// Queues `stanza` and schedules a drain if none is pending; returns false if it was dropped.
    @discardableResult
    func enqueue(_ stanza: ByteBuffer) -> Bool {
        switch enqueueDeferringDrain(stanza) {
        case .queued: return true
        case .queuedNeedingDrain:
            scheduleDrain()
            return true
        case .dropped: return false
        }
    }

    /// Queues `stanza`, leaving the drain to the caller: a reader routing a whole read's worth of
    /// events schedules each touched queue's drain once, at the end of the read.
    func enqueueDeferringDrain(_ stanza: ByteBuffer) -> Enqueued {
        enum Outcome { case queued, queuedAndSchedule, dropped, droppedAndOverrun }
        let outcome = state.withLock { state -> Outcome in
            guard !state.closed else { return .dropped }
            guard state.pending.count < capacity else {
                state.dropped += 1
                state.droppedInARow += 1
                guard state.droppedInARow >= disconnectAfterDrops else { return .dropped }
                state.overrun = true
                state.closed = true
                return .droppedAndOverrun
            }
            state.droppedInARow = 0
            state.pending.append(stanza)
            if state.drainScheduled { return .queued }
            state.drainScheduled = true
            return .queuedAndSchedule
        }
        switch outcome {
        case .queued: return .queued
        case .queuedAndSchedule: return .queuedNeedingDrain
        case .dropped: return .dropped
        case .droppedAndOverrun:
            channel.close(promise: nil)
            return .dropped
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
        let batch = state.withLock { state -> CircularBuffer<ByteBuffer> in
            state.drainScheduled = false
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        guard let first = batch.first else { return }
        if batch.count == 1 {
            channel.writeAndFlush(first, promise: nil)
            return
        }
        // One buffer for the batch: copying a few hundred bytes a stanza costs less than sending
        // each through the pipeline on its own.
        var combined = channel.allocator.buffer(capacity: batch.reduce(0) { $0 + $1.readableBytes })
        for stanza in batch { combined.writeImmutableBuffer(stanza) }
        channel.writeAndFlush(combined, promise: nil)
    }

    /// Writes everything waiting (writable or not: these are the last few stanzas), then closes
    /// the connection once they are out. Runs on the event loop.
    func flushThenClose() {
        let batch = state.withLock { state -> CircularBuffer<ByteBuffer> in
            state.closed = true
            defer { state.pending.removeAll() }
            return state.pending
        }
        guard let last = batch.last else {
            channel.close(promise: nil)
            return
        }
        for stanza in batch.dropLast() { channel.write(stanza, promise: nil) }
        let channel = self.channel
        channel.writeAndFlush(last).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Stops accepting stanzas (the connection has closed).
    func close() {
        state.withLock { state in
            state.closed = true
            state.pending.removeAll()
        }
    }

    /// Stanzas dropped because the queue was full.
    var droppedCount: Int { state.withLock { $0.dropped } }

    /// Whether the subscriber fell so far behind that it is being disconnected.
    var isOverrun: Bool { state.withLock { $0.overrun } }
}
