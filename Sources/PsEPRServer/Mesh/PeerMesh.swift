import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// Something that happened in the mesh, for observers (tests, demos, status).
public enum MeshEvent: Sendable, Equatable {
    /// A peer list took effect (from the file or the configuration channel).
    case configured(peers: Int)
    /// A link to the peer with this ID passed the handshake.
    case linkUp(peer: String)
    /// A link ended.
    case linkDown(peer: String)
    /// A handshake failed; `peer` is the claimed or expected ID when known.
    case refused(peer: String?, reason: String)
    /// A peer installed or renewed a lease for this server's clients.
    case granted(peer: String, identifier: String)
    /// A peer released one.
    case released(peer: String, identifier: String)
}

/// The shared state of the LeasePeer mesh: this server's view of its peers, the established
/// links, and for each link the ``Interest``s leased on it and by it.
///
/// In a full mesh every distinct interest of the local router is held as one lease on each
/// linked peer, and events go one hop. In any other layout (the file's sections say which) the
/// mesh relays: a server leases on each neighbour the union of its own interests and those its
/// other neighbours lease on it (never a neighbour's own back to it), each with the distance in
/// hops to the nearest server whose clients hold it, and events carry a ``RelayStamp`` so each
/// server takes each event once however many paths bring it (``admit(_:)``). Leases are
/// registered when they appear or a link comes up, renewed by ``renewLeases()``, released when
/// no source of them remains.
final class PeerMesh: Sendable {
    /// A lease a peer holds on this server.
    struct PeerLease {
        let interest: Interest
        let hops: Int
        let expires: ContinuousClock.Instant
    }

    struct Link {
        let queue: OutboundQueue
        /// What this server leases on the peer, with the hops it sent.
        var held: [Interest: Int] = [:]
        /// Whether `held` went out as a relaying mesh's registrations (with hops).
        var heldRelaying = false
        /// What the peer leases on this server, by identifier.
        private(set) var granted: [String: PeerLease] = [:]
        /// The same by interest: the hops of each identifier leasing it.
        private(set) var hopsByInterest: [Interest: [String: Int]] = [:]

        init(queue: OutboundQueue) { self.queue = queue }

        /// The fewest hops the peer gave for `interest`, if it leases it.
        func fewestHops(_ interest: Interest) -> Int? { hopsByInterest[interest]?.values.min() }

        /// Records a lease; returns the one it replaced.
        mutating func grant(_ lease: PeerLease, identifier: String) -> PeerLease? {
            let old = granted.updateValue(lease, forKey: identifier)
            if let old { forget(old.interest, identifier) }
            hopsByInterest[lease.interest, default: [:]][identifier] = lease.hops
            return old
        }

        /// Removes a lease; returns it.
        mutating func revoke(_ identifier: String) -> PeerLease? {
            guard let old = granted.removeValue(forKey: identifier) else { return nil }
            forget(old.interest, identifier)
            return old
        }

        /// Drops the leases that expired before `instant`; returns their interests.
        mutating func expire(before instant: ContinuousClock.Instant) -> [Interest] {
            let expired = granted.filter { $0.value.expires <= instant }
            for identifier in expired.keys { _ = revoke(identifier) }
            return expired.values.map(\.interest)
        }

        private mutating func forget(_ interest: Interest, _ identifier: String) {
            hopsByInterest[interest]?[identifier] = nil
            if hopsByInterest[interest]?.isEmpty == true { hopsByInterest[interest] = nil }
        }
    }

    private struct State {
        var configuration = PeerConfiguration()
        var links: [String: Link] = [:]
        var dialling: Set<String> = []
        /// Whether events are relayed (any layout but a full mesh).
        var relaying = false
        /// How far an interest may travel: the longest shortest path of the file's mesh.
        var maximumHops = 1
        var duplicates = RelayDuplicateFilter()
    }

    let settings: PeerSettings
    let hostname: String
    let bindHost: String
    let limits: XMLStreamFramer.Limits
    let router: EventRouter
    let logger: Logger
    /// This server's restart generation, stamped on the events it relays (below 10^18, so it
    /// takes at most 18 digits on the wire).
    let epoch = UInt64.random(in: 1..<1_000_000_000_000_000_000)
    private let state = Mutex(State())
    /// Relayed events handled so far, new or not.
    private let relayedReceivedCount = Atomic<Int>(0)
    private let observe: @Sendable (MeshEvent) -> Void
    /// Yields when the set of peers to dial may have changed.
    let dialTargetsChanged: AsyncStream<Void>
    private let dialSignal: AsyncStream<Void>.Continuation

    /// Yields when the peer list should be read again (the timer, SIGHUP, tests).
    let reloadRequests: AsyncStream<Void>
    private let reloadSignal: AsyncStream<Void>.Continuation

    init(
        configuration: EventServerConfiguration,
        router: EventRouter,
        logger: Logger,
        observe: @escaping @Sendable (MeshEvent) -> Void
    ) {
        self.settings = configuration.peer
        self.hostname = configuration.serverName
        self.bindHost = configuration.host
        self.limits = configuration.limits
        (reloadRequests, reloadSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.router = router
        self.logger = logger
        self.observe = observe
        (dialTargetsChanged, dialSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func report(_ event: MeshEvent) { observe(event) }

    /// Asks for the peer list to be read again now.
    func requestReload() { reloadSignal.yield() }

    var configuration: PeerConfiguration { state.withLock { $0.configuration } }

    /// Whether this server relays events (the file's layout is not a full mesh).
    var isRelaying: Bool { state.withLock { $0.relaying } }

    /// Relayed events refused as already taken here, and the origins remembered.
    var relayDuplicates: (refused: Int, origins: Int) {
        state.withLock { ($0.duplicates.duplicates, $0.duplicates.origins) }
    }

    /// Relayed events that arrived, new or not.
    var relayedReceived: Int { relayedReceivedCount.load(ordering: .sequentiallyConsistent) }

    /// Makes `configuration` the peer list: links to peers no longer listed (or with a new key or
    /// address) close; new peers are dialled. The file's topology decides between one hop (a full
    /// mesh, or a file that does not describe the whole mesh) and relaying; a list from the
    /// configuration channel keeps the file's topology.
    func apply(_ configuration: PeerConfiguration, source: String) {
        let (stale, relaying) = state.withLock { state -> ([OutboundQueue], Bool) in
            let old = state.configuration
            state.configuration = configuration
            // A list from the configuration channel carries the file's topology along.
            state.relaying = configuration.topology.map { !$0.isFullMesh } ?? false
            state.maximumHops = min(configuration.topology?.maximumHops ?? 1, PeerWire.maximumHops)
            let staleIDs = state.links.keys.filter { id in
                configuration.refusal != nil || configuration.peer(id: id) == nil
                    || configuration.peer(id: id) != old.peer(id: id)
                    || configuration.ownAuthKey != old.ownAuthKey
            }
            return (staleIDs.compactMap { state.links[$0]?.queue }, state.relaying)
        }
        router.setRelayIdentity(relaying && configuration.refusal == nil ? (configuration.ownID ?? "", epoch) : nil)
        for warning in configuration.warnings {
            logger.log(.peer, .warning, "LeasePeer configuration: \(warning)", metadata: ["psepr.source": "\(source)"])
        }
        if let refusal = configuration.refusal {
            logger.log(
                .badError,
                .error,
                "Peer work refused: \(refusal)",
                metadata: ["psepr.hostname": "\(hostname)", "psepr.source": "\(source)"]
            )
        } else {
            logger.log(
                .peer,
                .notice,
                "Peer list in effect",
                metadata: [
                    "psepr.source": "\(source)", "psepr.id": "\(configuration.ownID ?? "")",
                    "psepr.peers":
                        "\(configuration.peers.map { "\($0.id)@\($0.host):\($0.port)" }.joined(separator: " "))",
                    "psepr.forwarding": "\(relaying ? "relayed (not a full mesh)" : "one hop (full mesh)")",
                ]
            )
        }
        for queue in stale { queue.channel.close(promise: nil) }
        report(.configured(peers: configuration.peers.count))
        reconcile()
        dialSignal.yield()
    }

    /// The peer with `id` if this server should dial it: listed, and the lower ID of the pair.
    func dialTarget(_ id: String) -> PeerEntry? {
        dialTargets.contains(id) ? configuration.peer(id: id) : nil
    }

    /// The IDs of every peer this server dials.
    var dialTargets: [String] {
        let configuration = self.configuration
        guard configuration.refusal == nil, let ownID = configuration.ownID else { return [] }
        return configuration.peers.filter { PeerConfiguration.dials(ownID: ownID, peerID: $0.id) }.map(\.id)
    }

    /// Claims the dialling of peer `id`; false if a task dials it already.
    func beginDialling(_ id: String) -> Bool { state.withLock { $0.dialling.insert(id).inserted } }

    /// Gives up the dialling of peer `id`.
    func endDialling(_ id: String) { state.withLock { _ = $0.dialling.remove(id) } }

    /// The live link to `id`, if there is one.
    func linkChannel(for id: String) -> (any Channel)? {
        state.withLock { $0.links[id]?.queue.channel }
    }

    /// IDs of the peers linked now.
    var linkedPeers: [String] { state.withLock { $0.links.keys.sorted() } }

    /// Records a link that passed the handshake (replacing an older one to the same peer) and
    /// leases every current interest on it.
    func linkEstablished(peer id: String, queue: OutboundQueue) {
        let replaced = state.withLock { state -> OutboundQueue? in
            defer { state.links[id] = Link(queue: queue) }
            return state.links[id]?.queue
        }
        replaced?.channel.close(promise: nil)
        logger.log(
            .peer,
            .notice,
            "Peer link up",
            metadata: ["psepr.peer": "\(id)", "psepr.remote": "\(queue.channel.remoteAddress.map { "\($0)" } ?? "")"]
        )
        report(.linkUp(peer: id))
        reconcile()
    }

    /// Forgets a link that closed (unless a newer link to the same peer replaced it); in a
    /// relaying mesh the leases it fed on other links are withdrawn.
    func linkEnded(peer id: String, queue: OutboundQueue) {
        let removed = state.withLock { state -> Bool in
            guard state.links[id]?.queue === queue else { return false }
            state.links[id] = nil
            return true
        }
        guard removed else { return }
        logger.log(.peer, .notice, "Peer link down", metadata: ["psepr.peer": "\(id)"])
        report(.linkDown(peer: id))
        if isRelaying { reconcile() }
    }

    /// Notes a lease the peer `id` took (or renewed) on this server over `queue`; in a relaying
    /// mesh a new interest, or a new distance to one, is passed on to the other neighbours.
    func peerLeased(
        peer id: String,
        queue: OutboundQueue,
        identifier: String,
        interest: Interest,
        hops: Int?,
        seconds: Int
    ) {
        let expires = router.currentInstant.advanced(by: .seconds(seconds))
        let changed = state.withLock { state -> [Interest] in
            guard state.links[id]?.queue === queue else { return [] }
            let lease = PeerLease(interest: interest, hops: hops ?? 0, expires: expires)
            let old = state.links[id]?.grant(lease, identifier: identifier)
            guard state.relaying, old?.interest != interest || old?.hops != lease.hops else { return [] }
            return [interest] + (old.map { $0.interest == interest ? [] : [$0.interest] } ?? [])
        }
        for interest in changed { reconcile(interest) }
    }

    /// Notes that the peer `id` released a lease on this server.
    func peerReleased(peer id: String, queue: OutboundQueue, identifier: String) {
        let changed = state.withLock { state -> Interest? in
            guard state.links[id]?.queue === queue, state.relaying else { return nil }
            return state.links[id]?.revoke(identifier)?.interest
        }
        if let changed { reconcile(changed) }
    }

    /// Whether a relayed event is new here (and records it): not this server's own, and not
    /// taken before over another path.
    func admit(_ stamp: RelayStamp) -> Bool {
        state.withLock { state in
            guard stamp.origin != state.configuration.ownID else { return false }
            return state.duplicates.admit(stamp)
        }
    }

    /// Counts a relayed event as handled (admitted and routed, or refused).
    func relayedHandled() { relayedReceivedCount.add(1, ordering: .sequentiallyConsistent) }

    /// Brings every link's leases in line with what it should carry: registers the new ones
    /// (and, relaying, those whose distance changed), releases the ones nothing needs any more.
    ///
    /// A link carries the local interests (0 hops) and, relaying, each interest another
    /// neighbour leases here, one hop further than that neighbour said, while that stays within
    /// the mesh's longest path: so an interest whose source went away but which a loop keeps
    /// echoing dies out after going round, instead of living for ever.
    func reconcile() {
        let interests = router.interests
        let instant = router.currentInstant
        state.withLock { state in
            for id in Array(state.links.keys) {
                guard var link = state.links[id] else { continue }
                _ = link.expire(before: instant)
                state.links[id] = link
            }
            for (id, link) in state.links {
                var desired = Dictionary(uniqueKeysWithValues: interests.map { ($0, 0) })
                if state.relaying {
                    for (otherID, other) in state.links where otherID != id {
                        for interest in other.hopsByInterest.keys {
                            guard let hops = other.fewestHops(interest), hops + 1 <= state.maximumHops else { continue }
                            desired[interest] = min(desired[interest] ?? .max, hops + 1)
                        }
                    }
                }
                let resend = link.heldRelaying != state.relaying
                let added = desired.filter { resend || link.held[$0.key] != $0.value }
                let removed = link.held.keys.filter { desired[$0] == nil }
                guard !added.isEmpty || !removed.isEmpty else { continue }
                // Sent under the lock so that concurrent reconciles reach the wire in order.
                for (interest, hops) in added.sorted(by: { $0.key < $1.key }) {
                    link.queue.enqueue(PeerWire.element(registration(interest, hops: state.relaying ? hops : nil)))
                }
                for interest in removed.sorted() {
                    link.queue.enqueue(PeerWire.element(.unregister(identifier: Self.identifier(interest))))
                }
                state.links[id]?.held = desired
                state.links[id]?.heldRelaying = state.relaying
                logger.log(
                    .peerDetail,
                    .debug,
                    "Peer leases updated",
                    metadata: [
                        "psepr.peer": "\(id)", "psepr.added": "\(added.count)", "psepr.removed": "\(removed.count)",
                    ]
                )
            }
        }
    }

    /// ``reconcile()`` for the one interest whose peer leases changed (relaying only): the work
    /// grows with the links, not with every interest, since this runs for each peer lease that
    /// appears, moves or goes.
    private func reconcile(_ interest: Interest) {
        let local = router.hasInterest(interest)
        state.withLock { state in
            guard state.relaying else { return }
            for (id, link) in state.links where link.heldRelaying {
                var desired: Int? = local ? 0 : nil
                for (otherID, other) in state.links where otherID != id {
                    guard let hops = other.fewestHops(interest), hops + 1 <= state.maximumHops else { continue }
                    desired = min(desired ?? .max, hops + 1)
                }
                guard link.held[interest] != desired else { continue }
                if let desired {
                    link.queue.enqueue(PeerWire.element(registration(interest, hops: desired)))
                } else {
                    link.queue.enqueue(PeerWire.element(.unregister(identifier: Self.identifier(interest))))
                }
                state.links[id]?.held[interest] = desired
            }
        }
    }

    /// Renews every lease held on every peer (after dropping the peers' leases that expired
    /// unrenewed, and what they fed).
    func renewLeases() {
        reconcile()
        state.withLock { state in
            for link in state.links.values {
                for (interest, hops) in link.held.sorted(by: { $0.key < $1.key }) {
                    link.queue.enqueue(PeerWire.element(registration(interest, hops: link.heldRelaying ? hops : nil)))
                }
            }
        }
    }

    /// Pings every link (a quiet link is closed by its peer after three missed intervals).
    func ping() {
        let queues = state.withLock { $0.links.values.map(\.queue) }
        for queue in queues { queue.enqueue(PeerWire.element(.ping)) }
    }

    /// Closes every link (at shutdown).
    func closeAll() {
        router.sessions.closeAll(role: .peer)
    }

    private func registration(_ interest: Interest, hops: Int?) -> PeerMessage {
        .register(
            identifier: Self.identifier(interest),
            channel: interest.channel,
            namespace: interest.namespace,
            seconds: settings.leaseSeconds,
            hops: hops
        )
    }

    /// A peer lease's identifier (``Interest/peerLeaseIdentifier``).
    static func identifier(_ interest: Interest) -> String { interest.peerLeaseIdentifier }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension Interest {
    /// The identifier of the peer lease a server takes for this interest: the interest itself,
    /// so renewals need no bookkeeping.
    public var peerLeaseIdentifier: String { "peer:\(channel.rawValue)|\(namespace ?? "")" }
}
