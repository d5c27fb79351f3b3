import Synchronization

/// How much one connection may have waiting to be written, and how long it may take nothing.
///
/// Deliveries never wait on a subscriber: they are queued. Past ``highWaterBytes`` the server
/// stops reading from the publishers that fed the queue (TCP backpressure reaches them) until the
/// queue drains below ``lowWaterBytes``. A queue that takes nothing for ``stallSeconds`` lets its
/// publishers go on without it (it then loses what does not fit in ``pendingBudgetBytes``,
/// counted); one that takes nothing for ``writeDeadlineSeconds`` is disconnected with a stream
/// error. A reader that keeps taking bytes, however slowly, loses nothing.
public struct FlowControl: Sendable, Hashable {
    /// Most bytes waiting for one connection (queued, or handed to the socket and not yet
    /// taken by it); deliveries beyond it are dropped and counted.
    public var pendingBudgetBytes: Int
    /// Seconds a connection with bytes waiting may take none before it is disconnected.
    public var writeDeadlineSeconds: Double
    /// Seconds a connection with bytes waiting may take none while holding back its publishers.
    public var stallSeconds: Double

    /// Creates settings.
    public init(pendingBudgetBytes: Int, writeDeadlineSeconds: Double, stallSeconds: Double) {
        self.pendingBudgetBytes = pendingBudgetBytes
        self.writeDeadlineSeconds = writeDeadlineSeconds
        self.stallSeconds = stallSeconds
    }

    /// Past this, the publishers feeding the connection stop being read: a quarter of the
    /// budget. The three quarters above it take what each publisher adds before it stops: a
    /// client publisher stops within its read, after at most one run
    /// (``ClientSessionMachine/runBytes``), so about 190 bursting into one subscriber at once
    /// fit at the client default of 8 MiB; a peer link finishes its read (at most 256 KiB, its
    /// deliveries at most half as much again written out), sixteen at once.
    public var highWaterBytes: Int { pendingBudgetBytes / 4 }
    /// Below this, held-back publishers are read again: an eighth of the budget.
    public var lowWaterBytes: Int { pendingBudgetBytes / 8 }

    /// Client connections: 8 MiB, 5 s, 2 s.
    public static let clientDefault = FlowControl(pendingBudgetBytes: 8 << 20, writeDeadlineSeconds: 5, stallSeconds: 2)
    /// Peer links, which carry the traffic of many subscribers: 32 MiB (held back past 8 MiB),
    /// 10 s, 2 s.
    public static let peerDefault = FlowControl(pendingBudgetBytes: 32 << 20, writeDeadlineSeconds: 10, stallSeconds: 2)
}
/// Flow-control counters shared by a router's queues, read for status reports.
final class FlowCounters: Sendable {
    /// Times a publisher's reads were paused because a subscriber it fed passed its high-water mark.
    let publisherStalls = Atomic<Int>(0)
    /// Times a subscriber took nothing for its stall time and its publishers were let go on.
    let stallTimeouts = Atomic<Int>(0)
    /// Connections closed for taking nothing for their write deadline.
    let slowConsumerDisconnects = Atomic<Int>(0)
    /// Deliveries a reader's batch (``RoutingScratch/flushBatches()``) found no room for.
    let batchedDrops = Atomic<Int>(0)
}
