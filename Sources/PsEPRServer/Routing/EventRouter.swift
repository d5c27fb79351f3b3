import Logging
import NIOCore
public import PsEPRCore
import Synchronization

/// Routes events between the connections of one server: holds the route table behind one lock,
/// and the attached connections in a ``SessionRegistry``. Routing is a function call from the
/// sender's event loop: match, serialise once, enqueue to each subscriber.
///
/// It also keeps the set of ``Interest``s — the distinct channel and namespace pairs leased by
/// clients and propagating services — and signals ``interestChanges`` when that set changes,
/// so the peer mesh can hold matching leases on its peers.
public final class EventRouter: Sendable {
    private struct State {
        /// Leases by destination, so a lookup yields the queues and inboxes.
        var table = RouteTable<Destination, ContinuousClock.Instant>()
        var nextMessage: UInt64 = 1
        var statistics = Statistics()
        var interests = InterestCounts()
        /// Routes of built-in services in the table (not counted as leases).
        var serviceRoutes = 0
        /// This server's name and generation in a relaying mesh (nil: a full mesh or none, where
        /// events go one hop and carry no stamp).
        var relayIdentity: (origin: String, epoch: UInt64)?
        /// The number of the next event this server stamps for relaying.
        var nextRelaySequence: UInt64 = 1
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> ContinuousClock.Instant
    /// The server's metrics, which also time every 64th event through ``route(_:origin:)``.
    public let metrics = ServerMetrics()
    /// The flow-control counters every attached queue adds to.
    let flowCounters = FlowCounters()
    /// Relayed events queued to peer links (a relaying mesh), for quiescence checks and status.
    private let relayedSentCount = Atomic<Int>(0)
    private let interestWatchers = InterestWatchers()
    /// The attached connections.
    let sessions = SessionRegistry()

    /// Creates a router whose lease expiry follows `now` (tests pass a clock they move by hand).
    public init(now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
    }

    /// A sequence that yields whenever the set of ``interests`` changes (coalesced: read
    /// ``interests`` for the current set). Each call gives a new sequence; it ends when its
    /// reader stops.
    public func interestChanges() -> AsyncStream<Void> { interestWatchers.changes() }

    private func signalInterestChange() { interestWatchers.signal() }

    func attach(_ queue: OutboundQueue) -> SessionID { sessions.attach(queue) }

    /// Forgets a connection and every lease it held.
    func detach(_ session: SessionID) {
        guard let queue = sessions.detach(session) else { return }
        let changed = state.withLock { state in
            state.table.removeAll(subscriber: .connection(queue)).reduce(false) {
                state.interests.count($1, by: -1) || $0
            }
        }
        if changed { signalInterestChange() }
    }

    /// Detaches connections whose socket has closed without saying so (the Gleaner's job);
    /// returns how many.
    @discardableResult
    func reapClosedConnections() -> Int {
        let dead = sessions.closedSessions
        for session in dead { detach(session) }
        return dead.count
    }

    /// Routes `event` to every matching subscriber, each at most once, and schedules their drains.
    ///
    /// - Parameter source: where the event came from, for the metrics (the server's own services
    ///   unless said otherwise). A service publishing this way is never held back (its events are few).
    public func route(_ event: Event, origin: EventOrigin = .local, source: EventSource = .server) {
        var routing = RoutingScratch()
        route(event, forwarding: nil, origin: origin, source: source, routing: &routing)
        routing.finishRead(gate: nil)
    }

    /// Routes events that share `event`'s envelope (number `envelope`), each forwarding its own
    /// `<event>` element, `elements` being ranges of `buffer`'s readable bytes: a publisher's
    /// burst, as ``route(_:envelope:forwarding:origin:source:relayed:routing:)`` would route them
    /// one by one. When the reader's last lookup answers for all of them and its batch gathers
    /// for every subscriber, they are counted under one lock and written into the batch in one
    /// pass, with no slice (a retain and release) per event; otherwise each is routed alone.
    func route(
        _ event: Event,
        envelope: UInt64,
        forwardingRun buffer: ByteBuffer,
        elements: [Range<Int>],
        routing: inout RoutingScratch
    ) {
        routing.tickClock(now, events: elements.count)
        let first = state.withLock { state -> UInt64? in
            guard routing.lastRouteAnswers(event, envelope: envelope, generation: state.table.generation),
                routing.batchedLookup == routing.lookups, routing.batchCoversAll,
                state.relayIdentity == nil || !routing.lastLeasedByPeer
            else { return nil }
            let count = UInt64(elements.count)
            state.statistics.eventsRouted += Int(count)
            state.statistics.eventsBySource[.client] += Int(count)
            state.statistics.deliveries += routing.lastSubscribers.count * Int(count)
            defer { state.nextMessage += count }
            return state.nextMessage
        }
        guard let first else {
            for element in elements {
                let slice = buffer.getSlice(at: buffer.readerIndex + element.lowerBound, length: element.count)
                route(event, envelope: envelope, forwarding: slice, routing: &routing)
            }
            return
        }
        // One routing sample per period, as one by one: the run's time shared among its events.
        let period = ServerMetrics.routingSamplePeriod
        let sampled = (first + UInt64(elements.count) - 1) / period > (first - 1) / period
        let sampleStart = sampled ? ContinuousClock.now : nil
        routing.batch.addMessages(forwarding: buffer, elements: elements, firstNumber: first)
        if let sampleStart { metrics.recordRouting((ContinuousClock.now - sampleStart) / elements.count) }
    }

    /// Routes `event`, noting in `routing` each queue whose drain the caller must schedule and
    /// each queue past its high-water mark (``RoutingScratch/finishRead(gate:)``, once it has
    /// routed everything it read).
    ///
    /// The match happens under the lock; the outbound stanza is built once, outside it, in the
    /// reader's scratch buffer, and copied to every subscriber (a client's into the reader's
    /// batch for it, handed over by ``RoutingScratch/flushBatches()``).
    ///
    /// - Parameters:
    ///   - eventElement: the event's `<event>` element as received, when it can be forwarded as
    ///     it is; otherwise the element is written from `event`. With an element, `event`'s
    ///     payload may be left empty (the element carries it; services get it parsed from there).
    ///   - origin: an event from a peer goes to local subscribers only.
    ///   - source: where it came from, for the metrics (a peer's event is counted as `.peer`).
    ///   - routing: lists the caller keeps between events, so routing allocates none of its own.
    ///   - relayed: for an event relayed to this server (``PeerMessage/relayed(_:_:element:)``),
    ///     its stamp and the link it came over: in a relaying mesh it goes on to every other peer
    ///     link holding a matching lease, with the same stamp. The caller has checked it is new.
    ///   - envelope: the caller's number for the event's envelope (channel, addressee, namespace):
    ///     while it repeats, the reader's last lookup is checked by it alone
    ///     (``ClientSessionSink/route(_:envelope:forwarding:)``).
    func route(
        _ event: Event,
        envelope: UInt64? = nil,
        forwarding eventElement: ByteBuffer?,
        origin: EventOrigin = .local,
        source: EventSource = .client,
        relayed: (stamp: RelayStamp, link: OutboundQueue)? = nil,
        routing: inout RoutingScratch
    ) {
        routing.tickClock(now)
        if !routing.matched.isEmpty { routing.matched.removeAll(keepingCapacity: true) }
        defer { if !routing.matched.isEmpty { routing.matched.removeAll(keepingCapacity: true) } }
        let source = origin == .peer ? EventSource.peer : source
        // Whether the last lookup answers: its subscribers are then delivered to from where they
        // are, not copied (a retain each) into `matched`.
        var reused = false
        let (number, timed, stamp) = state.withLock { state -> (UInt64, Bool, RelayStamp?) in
            state.statistics.eventsRouted += 1
            state.statistics.eventsBySource[source] += 1
            // A publisher usually sends to the same channel event after event: its last lookup
            // stands while the table is unchanged and no lease it matched has expired.
            // (Read in place: a copy of the lookup would cost a retain per field.)
            if routing.lastRouteAnswers(event, envelope: envelope, generation: state.table.generation) {
                reused = true
                // Peer events are filtered below, in `matched`.
                if case .peer = origin { routing.matched.append(contentsOf: routing.lastSubscribers) }
            } else {
                var earliestExpiry: ContinuousClock.Instant?
                state.table.collectSubscribers(
                    for: event.channel,
                    namespace: event.payloadNamespace,
                    toService: event.toService,
                    toInstance: event.toInstance,
                    now: routing.instant,
                    into: &routing.matched,
                    earliestExpiry: &earliestExpiry
                )
                routing.remember(
                    RoutingScratch.Lookup(event: event),
                    subscribers: routing.matched,
                    envelope: envelope,
                    generation: state.table.generation,
                    validUntil: earliestExpiry
                )
            }
            let delivering = reused && origin != .peer
            var stamp: RelayStamp?
            if case .peer = origin {
                if let relayed, state.relayIdentity != nil {
                    // Relayed on, never back over the link it came by.
                    routing.matched.removeAll {
                        if case .connection(let queue) = $0 { queue === relayed.link } else { false }
                    }
                    stamp = relayed.stamp
                } else {
                    // One hop: a full mesh's peer events go to local subscribers only.
                    routing.matched.removeAll {
                        if case .connection(let queue) = $0 { queue.role == .peer } else { false }
                    }
                }
            } else if let identity = state.relayIdentity,
                delivering ? routing.lastLeasedByPeer : routing.matched.contains(where: \.isPeer)
            {
                stamp = RelayStamp(origin: identity.origin, epoch: identity.epoch, sequence: state.nextRelaySequence)
                state.nextRelaySequence += 1
            }
            let count = delivering ? routing.lastSubscribers.count : routing.matched.count
            guard count > 0 else { return (0, false, nil) }
            // Counted as delivered now; drops, the rare case, are taken back below.
            state.statistics.deliveries += count
            defer { state.nextMessage += 1 }
            return (state.nextMessage, state.nextMessage % ServerMetrics.routingSamplePeriod == 0, stamp)
        }
        // Client deliveries of a local, unstamped event go into the reader's batch, gathered for
        // one lookup's subscribers at a time; anything else goes straight to the queues, after
        // what was gathered so far.
        let batching = stamp == nil && origin == .local
        if batching, reused, routing.batchedLookup == routing.lookups, routing.batchCoversAll, let eventElement,
            !timed
        {
            // The bulk of the traffic: the same subscribers as the event before, all gathering.
            _ = routing.batch.addMessage(forwarding: eventElement, number: number)
            return
        }
        // One retain of the array, however many subscribers.
        let subscribers = reused && origin != .peer ? routing.lastSubscribers : routing.matched
        if !batching {
            routing.gather(for: nil)
        } else if routing.batchedLookup != routing.lookups {
            routing.gather(for: subscribers)
        }
        guard !subscribers.isEmpty else { return }
        // A sample of events is timed from here to the last subscriber's queue.
        let sampleStart = timed ? ContinuousClock.now : nil
        defer { if let sampleStart { metrics.recordRouting(ContinuousClock.now - sampleStart) } }
        // The outbound stanza, written once per event: straight into the batch when it has
        // subscribers and the sender's element is forwarded (`writtenInBatch`, its size), else into
        // the reader's scratch buffer; subscribers outside the batch copy it from there (`outbound`).
        var outbound: ByteBuffer?
        var writtenInBatch: Int?
        if batching && !routing.batchQueues.isEmpty {
            if let eventElement {
                writtenInBatch = routing.batch.addMessage(forwarding: eventElement, number: number)
            } else {
                outbound = Self.write(event, number: number, into: &routing.stanza)
                routing.batch.add(outbound!)
            }
            // The usual case: nobody but the batch's queues to deliver to.
            if routing.batchCoversAll { return }
        }
        // The same message inside its relay stamp, for peer links in a relaying mesh.
        var relayedWritten = false
        var dropped = 0
        var relayedDropped = 0
        if stamp != nil {
            // Counted before they are queued (drops taken back after), so the count never trails
            // what a peer may already have received.
            let relayed = subscribers.reduce(0) { $1.isPeer ? $0 + 1 : $0 }
            relayedSentCount.add(relayed, ordering: .sequentiallyConsistent)
        }
        for destination in subscribers {
            switch destination {
            case .service(let inbox):
                if event.payload.isEmpty, let eventElement,
                    let whole = try? Event(stanza: eventElement.readableBytesView)
                {
                    inbox.continuation.yield(whole)
                } else {
                    inbox.continuation.yield(event)
                }
            case .connection(let queue):
                // Gathered in the batch already.
                if batching && queue.role == .client { continue }
                if outbound == nil {
                    outbound =
                        if let writtenInBatch {
                            routing.batch.lastStanza(size: writtenInBatch)
                        } else if let eventElement {
                            Self.write(forwarding: eventElement, number: number, into: &routing.stanza)
                        } else {
                            Self.write(event, number: number, into: &routing.stanza)
                        }
                }
                let relaying = stamp != nil && queue.role == .peer
                if let stamp, relaying, !relayedWritten {
                    routing.relayedStanza.clear()
                    PeerWire.writeRelayed(outbound!, stamp: stamp, into: &routing.relayedStanza)
                    relayedWritten = true
                }
                let outcome = queue.enqueueDeferringDrain(relaying ? routing.relayedStanza : outbound!)
                if outcome.needsDrain { routing.drains.append(queue) }
                if outcome.congested { routing.noteCongested(queue) }
                if outcome.dropped {
                    dropped += 1
                    if stamp != nil, queue.role == .peer { relayedDropped += 1 }
                }
            }
        }
        if relayedDropped > 0 { relayedSentCount.subtract(relayedDropped, ordering: .sequentiallyConsistent) }
        guard dropped > 0 else { return }
        state.withLock { state in
            state.statistics.deliveries -= dropped
            state.statistics.dropped += dropped
        }
    }

    /// The outbound message `m<number>` forwarding `element`, written into `scratch` (cleared first).
    private static func write(
        forwarding element: ByteBuffer,
        number: UInt64,
        into scratch: inout ByteBuffer
    )
        -> ByteBuffer
    {
        scratch.clear()
        StanzaEncoder.writeMessage(forwarding: element, number: number, into: &scratch)
        return scratch
    }

    /// The outbound message `m<number>` carrying `event` written anew, in `scratch` (cleared first).
    private static func write(_ event: Event, number: UInt64, into scratch: inout ByteBuffer) -> ByteBuffer {
        scratch.clear()
        StanzaEncoder.writeMessage(event, id: "m\(number)", into: &scratch)
        return scratch
    }

    /// Makes this server stamp the events it sends to peers with `origin` and `epoch` (a
    /// relaying mesh), or stop (nil: a full mesh, one hop).
    func setRelayIdentity(_ identity: (origin: String, epoch: UInt64)?) {
        state.withLock { $0.relayIdentity = identity }
    }

    /// Relayed events queued to peer links so far (not counting those dropped).
    public var relayedEventsSent: Int { relayedSentCount.load(ordering: .sequentiallyConsistent) }

    /// The router's clock now (lease expiry).
    var currentInstant: ContinuousClock.Instant { now() }

    /// Installs or renews a lease of `seconds`; returns false if the connection already holds
    /// `maximumLeases` other leases.
    ///
    /// - Parameter everyAddressee: the lease matches events whatever their `to/service` (a peer's
    ///   lease: the peer filters for its own clients).
    func lease(
        session: SessionID,
        identifier: String,
        channel: ChannelName,
        namespaceFilter: String?,
        service: String?,
        instance: String?,
        seconds: Int,
        maximumLeases: Int,
        everyAddressee: Bool = false
    ) -> Bool {
        let expires = now().advanced(by: .seconds(seconds))
        let (granted, changed) = state.withLock { state -> (Bool, Bool) in
            // Looked up under the table's lock: a connection detaching now removes its leases
            // after this, so none is left behind.
            guard let queue = sessions.queue(of: session) else { return (false, false) }
            let subscriber = Destination.connection(queue)
            let old = state.table.lease(subscriber: subscriber, identifier: identifier)
            guard old != nil || state.table.leases(of: subscriber).count < maximumLeases else { return (false, false) }
            let lease = RouteTable<Destination, ContinuousClock.Instant>.Lease(
                subscriber: subscriber,
                identifier: identifier,
                channel: channel,
                namespaceFilter: namespaceFilter,
                service: service,
                instance: instance,
                expires: expires,
                matchesEveryAddressee: everyAddressee
            )
            state.table.upsert(lease)
            if let old, old.channel == channel, old.namespaceFilter?.lowercased() == namespaceFilter?.lowercased() {
                return (true, false)
            }
            let removed = old.map { state.interests.count($0, by: -1) } ?? false
            let added = state.interests.count(lease, by: 1)
            return (true, removed || added)
        }
        if changed { signalInterestChange() }
        return granted
    }

    /// Releases a lease.
    func release(session: SessionID, identifier: String) {
        guard let queue = sessions.queue(of: session) else { return }
        let changed = state.withLock { state -> Bool in
            guard let lease = state.table.remove(subscriber: .connection(queue), identifier: identifier) else {
                return false
            }
            return state.interests.count(lease, by: -1)
        }
        if changed { signalInterestChange() }
    }

    /// Routes the events of `channel` (and below) in `namespace` to a built-in service, for as
    /// long as the router lives.
    public func subscribe(_ inbox: ServiceInbox, channel: ChannelName, namespace: String?) {
        let changed = state.withLock { state -> Bool in
            let lease = RouteTable<Destination, ContinuousClock.Instant>.Lease(
                subscriber: .service(inbox),
                identifier: "\(inbox.name) \(channel)",
                channel: channel,
                namespaceFilter: namespace,
                expires: .now.advanced(by: .seconds(100 * 365 * 86_400))
            )
            guard state.table.lease(subscriber: lease.subscriber, identifier: lease.identifier) == nil else {
                return false
            }
            state.table.upsert(lease)
            state.serviceRoutes += 1
            return state.interests.count(lease, by: 1)
        }
        if changed { signalInterestChange() }
    }

    /// Removes expired leases (the Gleaner's job); returns how many.
    @discardableResult
    public func removeExpiredLeases() -> Int {
        let instant = now()
        let (removed, changed) = state.withLock { state -> (Int, Bool) in
            let expired = state.table.removeExpired(now: instant)
            return (expired.count, expired.reduce(false) { state.interests.count($1, by: -1) || $0 })
        }
        if changed { signalInterestChange() }
        return removed
    }

    /// The channel and namespace pairs leased by clients and propagating services.
    public var interests: Set<Interest> {
        state.withLock { $0.interests.all }
    }

    /// Whether local clients or propagating services lease `interest` (one of ``interests``).
    func hasInterest(_ interest: Interest) -> Bool {
        state.withLock { $0.interests.contains(interest) }
    }

    /// The identifiers of the leases connections hold, sorted (for status reports and tests).
    public var leaseIdentifiers: [String] {
        state.withLock { state in
            state.table.leases.filter { if case .connection = $0.subscriber { true } else { false } }.map(\.identifier)
                .sorted()
        }
    }

    /// Leases connections hold, connections attached and counters.
    public var snapshot: (leases: Int, connections: Int, statistics: Statistics) {
        var (leases, statistics) = state.withLock { ($0.table.count - $0.serviceRoutes, $0.statistics) }
        let connections = sessions.count
        statistics.stalls = flowCounters.publisherStalls.load(ordering: .relaxed)
        statistics.stallTimeouts = flowCounters.stallTimeouts.load(ordering: .relaxed)
        statistics.slowConsumerDisconnects = flowCounters.slowConsumerDisconnects.load(ordering: .relaxed)
        // Deliveries were counted when routed; those a batch found no room for are taken back.
        let batchedDrops = flowCounters.batchedDrops.load(ordering: .relaxed)
        statistics.deliveries -= batchedDrops
        statistics.dropped += batchedDrops
        return (leases, connections, statistics)
    }

    /// Counters for status reports and metrics.
    public var statistics: Statistics { snapshot.statistics }

    /// Checks every connection's write progress at the router's clock
    /// (``SessionRegistry/enforceFlowDeadlines(now:)``); returns those acted on.
    func enforceFlowDeadlines() -> [FlowAction] { sessions.enforceFlowDeadlines(now: now()) }

    /// Every attached connection, with the leases it holds.
    func connectionStatuses() -> [ConnectionStatus] {
        let attached = sessions.attached
        let leaseCounts = state.withLock { state in
            attached.map { state.table.leases(of: .connection($0.queue)).count }
        }
        return zip(attached, leaseCounts).map { ConnectionStatus(session: $0.session, queue: $0.queue, leases: $1) }
            .sorted { $0.session.value < $1.session.value }
    }

    /// Counts a login (the metrics' `psepr_logins_total`).
    func countLogin(accepted: Bool) {
        state.withLock { state in
            if accepted { state.statistics.loginsAccepted += 1 } else { state.statistics.loginsRefused += 1 }
        }
    }

    /// Counts a connection accepted (or a client connection refused at `maximumConnections`).
    func countConnection(_ kind: ConnectionKind, accepted: Bool = true) {
        state.withLock { state in
            if accepted {
                state.statistics.connectionsAccepted[kind] += 1
            } else {
                state.statistics.connectionsRefused += 1
            }
        }
    }

    /// Bytes read and written by every connection so far, open and closed.
    public var trafficBytes: (received: Int, sent: Int) { sessions.trafficBytes }

    /// Route-table entries: connections' leases plus the built-in services' routes.
    public var routeTableSize: Int { state.withLock { $0.table.count } }

    /// The leases per channel, for the heartbeat's route-table section.
    func leaseCountsByChannel() -> [(channel: ChannelName, leases: Int)] {
        let leases = state.withLock { $0.table.leases }
        return Dictionary(grouping: leases, by: \.channel).map { ($0.key, $0.value.count) }.sorted {
            $0.channel < $1.channel
        }
    }
}
