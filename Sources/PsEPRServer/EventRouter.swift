import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// A connection's identity in the router.
public struct SessionID: Hashable, Sendable, CustomStringConvertible {
    let value: UInt64
    public var description: String { "session-\(value)" }
}

/// Routes events between the connections of one server: holds the route table and each
/// connection's outbound queue, behind one lock. Routing is a function call from the sender's
/// task: match, serialise once, enqueue to each subscriber.
public final class EventRouter: Sendable {
    /// Counters for status reports.
    public struct Statistics: Sendable, Hashable {
        /// Events routed (not counting lease operations).
        public var eventsRouted = 0
        /// Deliveries queued to subscribers.
        public var deliveries = 0
        /// Deliveries dropped because a subscriber's queue was full.
        public var dropped = 0
    }

    private struct State {
        /// Leases by the queue of the connection holding them, so a lookup yields the queues.
        var table = RouteTable<OutboundQueue, ContinuousClock.Instant>()
        var queues: [SessionID: OutboundQueue] = [:]
        var nextSession: UInt64 = 1
        var nextMessage: UInt64 = 1
        var statistics = Statistics()
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> ContinuousClock.Instant

    /// Creates a router whose lease expiry follows `now` (tests pass a clock they move by hand).
    public init(now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
    }

    func attach(_ queue: OutboundQueue) -> SessionID {
        state.withLock { state in
            let id = SessionID(value: state.nextSession)
            state.nextSession += 1
            state.queues[id] = queue
            return id
        }
    }

    /// Closes every attached connection (at shutdown).
    func closeAllConnections() {
        let queues = state.withLock { Array($0.queues.values) }
        for queue in queues { queue.channel.close(promise: nil) }
    }

    /// Forgets a connection and every lease it held.
    func detach(_ session: SessionID) {
        state.withLock { state in
            guard let queue = state.queues.removeValue(forKey: session) else { return }
            state.table.removeAll(subscriber: queue)
        }
    }

    /// Delivers `event` to every connection with a matching lease, each at most once.
    ///
    /// The match happens under the lock; the outbound stanza is built once, outside it, and
    /// shared by every subscriber.
    func route(_ event: Event) {
        var matched: [OutboundQueue] = []
        var drains: [OutboundQueue] = []
        route(event, forwarding: nil, matched: &matched, drains: &drains)
        for queue in drains { queue.scheduleDrain() }
    }

    /// Routes `event`, appending to `drains` each queue whose drain the caller must schedule
    /// (once it has routed everything it read).
    ///
    /// - Parameters:
    ///   - eventElement: the event's `<event>` element as received, when it can be forwarded as
    ///     it is; otherwise the element is written from `event`.
    ///   - queues: a list the caller keeps between events for the matching queues, so routing
    ///     allocates no list of its own.
    func route(_ event: Event, forwarding eventElement: ByteBuffer?, matched queues: inout [OutboundQueue], drains: inout [OutboundQueue]) {
        let instant = now()
        queues.removeAll(keepingCapacity: true)
        let number = state.withLock { state -> UInt64 in
            state.statistics.eventsRouted += 1
            state.table.collectSubscribers(
                for: event.channel, namespace: event.payloadNamespace, toService: event.toService, toInstance: event.toInstance, now: instant,
                into: &queues
            )
            guard !queues.isEmpty else { return 0 }
            // Counted as delivered now; drops, the rare case, are taken back below.
            state.statistics.deliveries += queues.count
            defer { state.nextMessage += 1 }
            return state.nextMessage
        }
        guard !queues.isEmpty else { return }
        // One buffer per event, shared by every subscriber's queue.
        var stanza = ByteBufferAllocator().buffer(capacity: (eventElement?.readableBytes ?? event.payload.count + 256) + 48)
        if let eventElement {
            StanzaEncoder.writeMessage(forwarding: eventElement, id: "m\(number)", into: &stanza)
        } else {
            StanzaEncoder.writeMessage(event, id: "m\(number)", into: &stanza)
        }
        var dropped = 0
        for queue in queues {
            switch queue.enqueueDeferringDrain(stanza) {
            case .queued: break
            case .queuedNeedingDrain: drains.append(queue)
            case .dropped: dropped += 1
            }
        }
        queues.removeAll(keepingCapacity: true)
        guard dropped > 0 else { return }
        state.withLock { state in
            state.statistics.deliveries -= dropped
            state.statistics.dropped += dropped
        }
    }


    /// Installs or renews a lease of `seconds`; returns false if the connection already holds
    /// `maximumLeases` other leases.
    func lease(
        session: SessionID, identifier: String, channel: ChannelName, namespaceFilter: String?,
        service: String?, instance: String?, seconds: Int, maximumLeases: Int
    ) -> Bool {
        let expires = now().advanced(by: .seconds(seconds))
        return state.withLock { state in
            guard let queue = state.queues[session] else { return false }
            let held = state.table.leases(of: queue)
            guard held.count < maximumLeases || held.contains(where: { $0.identifier == identifier }) else { return false }
            state.table.upsert(.init(
                subscriber: queue, identifier: identifier, channel: channel, namespaceFilter: namespaceFilter,
                service: service, instance: instance, expires: expires
            ))
            return true
        }
    }

    /// Releases a lease.
    func release(session: SessionID, identifier: String) {
        state.withLock { state in
            guard let queue = state.queues[session] else { return }
            state.table.remove(subscriber: queue, identifier: identifier)
        }
    }

    /// Removes expired leases (the Gleaner's job); returns how many.
    @discardableResult
    public func removeExpiredLeases() -> Int {
        let instant = now()
        return state.withLock { $0.table.removeExpired(now: instant).count }
    }

    /// The identifiers of the leases held, sorted (for status reports and tests).
    public var leaseIdentifiers: [String] {
        state.withLock { $0.table.leases.map(\.identifier).sorted() }
    }

    /// Leases held, connections attached and counters.
    public var snapshot: (leases: Int, connections: Int, statistics: Statistics) {
        state.withLock { ($0.table.count, $0.queues.count, $0.statistics) }
    }
}
