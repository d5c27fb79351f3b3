import NIOCore
import Synchronization

/// The connections attached to a router, by session: their outbound queues, the log of those
/// that closed since the status reporter last looked, and the bytes the closed ones moved.
///
/// It has its own lock, apart from the route table's, so status reports, the flow watch and
/// the Gleaner walk the connections without holding up routing. The router takes this lock
/// inside its own (never the other way round) where a lease must see its connection attached.
final class SessionRegistry: Sendable {
    private struct State {
        var queues: [SessionID: OutboundQueue] = [:]
        var nextSession: UInt64 = 1
        /// Connections closed since the status reporter last looked, with their final counters.
        var retired: [ConnectionStatus] = []
        /// Bytes read from and written to connections that have closed (open ones keep their own).
        var retiredBytes = (received: 0, sent: 0)
    }

    /// Closed connections remembered for the next status report at most.
    static let retiredLogLimit = 1000

    private let state = Mutex(State())

    /// Registers a connection's queue under a new session.
    func attach(_ queue: OutboundQueue) -> SessionID {
        state.withLock { state in
            let id = SessionID(value: state.nextSession)
            state.nextSession += 1
            state.queues[id] = queue
            return id
        }
    }

    /// Forgets a session, logging its final counters; returns its queue (nil if not attached).
    func detach(_ session: SessionID) -> OutboundQueue? {
        state.withLock { state in
            guard let queue = state.queues.removeValue(forKey: session) else { return nil }
            let final = ConnectionStatus(session: session, queue: queue, leases: 0)
            state.retiredBytes.received += final.bytesReceived
            state.retiredBytes.sent += final.bytesSent
            if state.retired.count >= Self.retiredLogLimit { state.retired.removeFirst() }
            state.retired.append(final)
            return queue
        }
    }

    func queue(of session: SessionID) -> OutboundQueue? {
        state.withLock { $0.queues[session] }
    }

    /// Every attached connection's session and queue.
    var attached: [(session: SessionID, queue: OutboundQueue)] {
        state.withLock { $0.queues.map { ($0.key, $0.value) } }
    }

    var count: Int { state.withLock { $0.queues.count } }

    /// Sessions whose socket has closed without the connection detaching (the Gleaner's work).
    var closedSessions: [SessionID] {
        state.withLock { $0.queues.filter { !$0.value.channel.isActive }.map(\.key) }
    }

    /// Closes every attached connection of `role` (every one when nil), at shutdown.
    func closeAll(role: ConnectionRole? = nil) {
        let queues = state.withLock { $0.queues.values.filter { role == nil || $0.role == role } }
        for queue in queues { queue.channel.close(promise: nil) }
    }

    /// The connections closed since the last call, with their final counters.
    func takeRetired() -> [ConnectionStatus] {
        state.withLock { state in
            defer { state.retired.removeAll() }
            return state.retired
        }
    }

    /// Bytes read and written by every connection so far, open and closed.
    var trafficBytes: (received: Int, sent: Int) {
        let (queues, retired) = state.withLock { ($0.queues.values.map { $0 }, $0.retiredBytes) }
        return queues.reduce(retired) { total, queue in
            (
                total.received + queue.bytesReceived.load(ordering: .relaxed),
                total.sent + queue.bytesSent.load(ordering: .relaxed)
            )
        }
    }

    /// Checks every connection's write progress against its stall time and write deadline
    /// (``OutboundQueue/checkProgress(now:)``); returns those acted on.
    func enforceFlowDeadlines(now instant: ContinuousClock.Instant) -> [FlowAction] {
        attached.compactMap { session, queue in
            let progress = queue.checkProgress(now: instant)
            guard progress != .moving else { return nil }
            return FlowAction(
                session: session,
                role: queue.role,
                account: queue.account,
                remote: queue.channel.remoteAddress.map { "\($0)" } ?? "",
                progress: progress
            )
        }
    }
}

/// A connection the flow watch acted on, for the log.
struct FlowAction {
    let session: SessionID
    let role: ConnectionRole
    let account: String?
    let remote: String
    let progress: OutboundQueue.Progress
}
