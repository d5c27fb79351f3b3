import NIOCore
import PsEPRCore
import Synchronization

/// What is at the other end of a connection.
public enum ConnectionRole: String, Sendable, Hashable {
    /// A client (the XMPP-like port).
    case client
    /// A peer server (the LeasePeer port).
    case peer
}

/// One connection's outbound stanzas: bounded, never blocking the router.
///
/// The router enqueues from whichever thread routed the event and moves on. The first stanza
/// after a drain schedules one drain on the connection's event loop, so stanzas arriving
/// meanwhile go out in the same batch with a single flush. A drain hands stanzas to the socket
/// only while it is writable; when the peer stops reading they stay here, and once
/// `capacity` are waiting the newest are dropped and counted, so one slow subscriber never slows
/// the others. A subscriber that keeps the queue full for `disconnectAfterDrops` consecutive
/// stanzas is disconnected (``isOverrun``).
///
/// A peer link's queue numbers what it sends: each stanza goes out inside
/// `<peerMessage seq='N'>…</peerMessage>`, N counting from 1, added as the batch is written so
/// the numbers follow the order on the wire.
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
        var delivered = 0
        var nextSequence: UInt64 = 1
        var account: String?
    }

    let channel: any Channel
    /// Client or peer link.
    let role: ConnectionRole
    /// Stanzas (events, lease operations) received from the other end, for status reports.
    let received = Atomic<Int>(0)
    /// Bytes read from and written to the other end, for the metrics.
    let bytesReceived = Atomic<Int>(0)
    let bytesSent = Atomic<Int>(0)
    private let state = Mutex(State())
    private let capacity: Int
    private let disconnectAfterDrops: Int

    init(channel: any Channel, role: ConnectionRole = .client, capacity: Int, disconnectAfterDrops: Int) {
        self.channel = channel
        self.role = role
        self.capacity = max(1, capacity)
        self.disconnectAfterDrops = max(1, disconnectAfterDrops)
    }

    /// The service the client logged in as, or the peer's ID.
    var account: String? {
        get { state.withLock { $0.account } }
        set { state.withLock { $0.account = newValue } }
    }

    /// Counters for status reports.
    var counters: (delivered: Int, dropped: Int, queued: Int) {
        state.withLock { ($0.delivered, $0.dropped, $0.pending.count) }
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
            state.delivered += 1
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
        let (batch, firstSequence) = takePending(closing: false)
        guard let combined = combine(batch, firstSequence: firstSequence) else { return }
        bytesSent.add(combined.readableBytes, ordering: .relaxed)
        channel.writeAndFlush(combined, promise: nil)
    }

    /// Writes everything waiting (writable or not: these are the last few stanzas), then closes
    /// the connection once they are out. Runs on the event loop.
    func flushThenClose() {
        let (batch, firstSequence) = takePending(closing: true)
        let channel = self.channel
        guard let combined = combine(batch, firstSequence: firstSequence) else {
            channel.close(promise: nil)
            return
        }
        bytesSent.add(combined.readableBytes, ordering: .relaxed)
        channel.writeAndFlush(combined).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Empties the queue; a peer link's stanzas take the next sequence numbers.
    private func takePending(closing: Bool) -> (CircularBuffer<ByteBuffer>, UInt64) {
        state.withLock { state in
            state.drainScheduled = false
            if closing { state.closed = true }
            let first = state.nextSequence
            if role == .peer { state.nextSequence += UInt64(state.pending.count) }
            defer { state.pending.removeAll(keepingCapacity: !closing) }
            return (state.pending, first)
        }
    }

    /// The batch as one buffer (a lone client stanza as it is): copying a few hundred bytes a
    /// stanza costs less than sending each through the pipeline on its own.
    private func combine(_ batch: CircularBuffer<ByteBuffer>, firstSequence: UInt64) -> ByteBuffer? {
        guard let first = batch.first else { return nil }
        if role == .client && batch.count == 1 { return first }
        let framing = role == .peer ? 40 : 0
        var combined = channel.allocator.buffer(capacity: batch.reduce(0) { $0 + $1.readableBytes + framing })
        var sequence = firstSequence
        for stanza in batch {
            if role == .peer {
                PeerWire.writeNumbered(stanza, sequence: sequence, into: &combined)
                sequence += 1
            } else {
                combined.writeImmutableBuffer(stanza)
            }
        }
        return combined
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

/// A connection handler that routes what it reads into subscribers' queues and drains its own.
///
/// Routing defers each touched queue's drain to the end of the socket read (one wake-up and one
/// flush per subscriber per read, however many events the read held); a queue the socket would
/// not take waits until the socket is writable again.
protocol QueueDrainingHandler: ChannelInboundHandler {
    /// Subscribers' queues that got stanzas during this read.
    var pendingDrains: [OutboundQueue] { get set }
    /// This connection's own queue.
    var queue: OutboundQueue? { get }
}

extension QueueDrainingHandler {
    func channelReadComplete(context: ChannelHandlerContext) {
        for queue in pendingDrains { queue.scheduleDrain() }
        pendingDrains.removeAll(keepingCapacity: true)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { queue?.drain() }
        context.fireChannelWritabilityChanged()
    }
}
