import Crypto
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
/// links, and for each link the ``Interest``s leased on it.
///
/// Every distinct interest of the local router is held as one lease on each linked peer:
/// registered when it appears or the link comes up, renewed by ``renewLeases()``, released when
/// the last local lease for it goes.
final class PeerMesh: Sendable {
    struct Link {
        let queue: OutboundQueue
        var held: Set<Interest> = []
    }

    private struct State {
        var configuration = PeerConfiguration()
        var links: [String: Link] = [:]
        var dialling: Set<String> = []
    }

    let settings: PeerSettings
    let hostname: String
    let bindHost: String
    let limits: XMLStreamFramer.Limits
    let router: EventRouter
    let logger: Logger
    private let state = Mutex(State())
    private let observe: @Sendable (MeshEvent) -> Void
    /// Yields when the set of peers to dial may have changed.
    let dialTargetsChanged: AsyncStream<Void>
    private let dialSignal: AsyncStream<Void>.Continuation

    /// Yields when the peer list should be read again (the timer, SIGHUP, tests).
    let reloadRequests: AsyncStream<Void>
    private let reloadSignal: AsyncStream<Void>.Continuation

    init(configuration: EventServerConfiguration, router: EventRouter, logger: Logger, observe: @escaping @Sendable (MeshEvent) -> Void) {
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

    /// Makes `configuration` the peer list: links to peers no longer listed (or with a new key or
    /// address) close; new peers are dialled.
    func apply(_ configuration: PeerConfiguration, source: String) {
        let stale = state.withLock { state -> [OutboundQueue] in
            let old = state.configuration
            state.configuration = configuration
            let staleIDs = state.links.keys.filter { id in
                configuration.refusal != nil || configuration.peer(id: id) == nil || configuration.peer(id: id) != old.peer(id: id)
                    || configuration.ownAuthKey != old.ownAuthKey
            }
            return staleIDs.compactMap { state.links[$0]?.queue }
        }
        for warning in configuration.warnings { logger.log(.peer, .warning, "LeasePeer configuration: \(warning)", metadata: ["psepr.source": "\(source)"]) }
        if let refusal = configuration.refusal {
            logger.log(.badError, .error, "Peer work refused: \(refusal)", metadata: ["psepr.hostname": "\(hostname)", "psepr.source": "\(source)"])
        } else {
            logger.log(.peer, .notice, "Peer list in effect", metadata: [
                "psepr.source": "\(source)", "psepr.id": "\(configuration.ownID ?? "")",
                "psepr.peers": "\(configuration.peers.map { "\($0.id)@\($0.host):\($0.port)" }.joined(separator: " "))",
            ])
        }
        for queue in stale { queue.channel.close(promise: nil) }
        report(.configured(peers: configuration.peers.count))
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
        logger.log(.peer, .notice, "Peer link up", metadata: ["psepr.peer": "\(id)", "psepr.remote": "\(queue.channel.remoteAddress.map { "\($0)" } ?? "")"])
        report(.linkUp(peer: id))
        reconcile()
    }

    /// Forgets a link that closed (unless a newer link to the same peer replaced it).
    func linkEnded(peer id: String, queue: OutboundQueue) {
        let removed = state.withLock { state -> Bool in
            guard state.links[id]?.queue === queue else { return false }
            state.links[id] = nil
            return true
        }
        guard removed else { return }
        logger.log(.peer, .notice, "Peer link down", metadata: ["psepr.peer": "\(id)"])
        report(.linkDown(peer: id))
    }

    /// Brings every link's leases in line with the router's interests: registers the new ones,
    /// releases the ones no local lease needs any more.
    func reconcile() {
        let interests = router.interests
        state.withLock { state in
            for (id, link) in state.links {
                let added = interests.subtracting(link.held), removed = link.held.subtracting(interests)
                guard !added.isEmpty || !removed.isEmpty else { continue }
                // Sent under the lock so that concurrent reconciles reach the wire in order.
                for interest in added.sorted() { link.queue.enqueue(PeerWire.element(registration(interest))) }
                for interest in removed.sorted() { link.queue.enqueue(PeerWire.element(.unregister(identifier: Self.identifier(interest)))) }
                state.links[id]?.held = interests
                logger.log(.peerDetail, .debug, "Peer leases updated", metadata: ["psepr.peer": "\(id)", "psepr.added": "\(added.count)", "psepr.removed": "\(removed.count)"])
            }
        }
    }

    /// Renews every lease held on every peer.
    func renewLeases() {
        state.withLock { state in
            for link in state.links.values {
                for interest in link.held.sorted() { link.queue.enqueue(PeerWire.element(registration(interest))) }
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
        router.closeAllConnections(role: .peer)
    }

    private func registration(_ interest: Interest) -> PeerMessage {
        .register(identifier: Self.identifier(interest), channel: interest.channel, namespace: interest.namespace, seconds: settings.leaseSeconds)
    }

    /// A peer lease's identifier: the interest itself, so renewals need no bookkeeping.
    static func identifier(_ interest: Interest) -> String {
        "peer:\(interest.channel.rawValue)|\(interest.namespace ?? "")"
    }

    /// The handshake proof a server with `senderID` and `authKey` sends to `receiverID`: an
    /// HMAC-SHA256 under its own authKey over both IDs and both nonces, the receiver's first.
    static func proof(authKey: String, senderID: String, receiverID: String, receiverNonce: String, senderNonce: String) -> String {
        let message = proofMessage(senderID: senderID, receiverID: receiverID, receiverNonce: receiverNonce, senderNonce: senderNonce)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(authKey.utf8)))
        return code.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// Whether `proof` (hex) is ``proof(authKey:senderID:receiverID:receiverNonce:senderNonce:)``,
    /// checked by HMAC's own constant-time comparison.
    static func isValidProof(_ proof: String, authKey: String, senderID: String, receiverID: String, receiverNonce: String, senderNonce: String) -> Bool {
        guard let code = AccountTable.bytes(hex: Substring(proof)), code.count == SHA256.byteCount else { return false }
        let message = proofMessage(senderID: senderID, receiverID: receiverID, receiverNonce: receiverNonce, senderNonce: senderNonce)
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: message, using: SymmetricKey(data: Array(authKey.utf8)))
    }

    private static func proofMessage(senderID: String, receiverID: String, receiverNonce: String, senderNonce: String) -> [UInt8] {
        Array("psepr-leasepeer-1\n\(senderID)\n\(receiverID)\n\(receiverNonce)\n\(senderNonce)".utf8)
    }

    /// A fresh random nonce, hex.
    static func nonce() -> String {
        (0..<16).map { _ in String(UInt8.random(in: 0...255), radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
