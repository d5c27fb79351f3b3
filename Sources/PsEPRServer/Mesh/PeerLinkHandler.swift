import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// One LeasePeer link on its event loop, dialled or accepted: the handshake, then the peer's
/// lease requests (installed in the router for the peer's queue), the answers to this server's
/// requests, events (routed to local subscribers only) and keep-alive.
///
/// Handshake: each side sends the stream header and `<hello id nonce>`; on the other's hello it
/// checks the ID against its peer list (and, when it dialled, against the ID it meant to reach)
/// and sends `<auth proof>`, an HMAC under its own authKey over both IDs and nonces; on the
/// other's auth it checks the proof with the key its list gives for that peer. A mismatch
/// closes the link with `<error reason>` and is logged.
final class PeerLinkHandler: QueueDrainingHandler {
    typealias InboundIn = StreamFrame

    enum Direction {
        case dialled(expectedID: String)
        case accepted
    }

    private enum Phase {
        case awaitingHello
        case awaitingAuth(PeerEntry, nonce: String)
        case established(PeerEntry)
        case closing
    }

    private let mesh: PeerMesh
    private let direction: Direction
    private let established: EventLoopPromise<Void>?
    private let ownNonce = PeerMesh.nonce()
    private var phase = Phase.awaitingHello
    private(set) var queue: OutboundQueue?
    private var session: SessionID?
    private var expectedSequence: UInt64 = 1
    private var handshakeTimer: Scheduled<Void>?
    var routing = RoutingScratch()
    /// Holds this link's reads back while local subscribers it feeds are over their high-water mark.
    let gate: ReadGate?

    /// - Parameter established: succeeded when the handshake passes, failed if the link ends first.
    init(mesh: PeerMesh, direction: Direction, gate: ReadGate?, established: EventLoopPromise<Void>? = nil) {
        self.mesh = mesh
        self.gate = gate
        self.direction = direction
        self.established = established
    }

    private var logger: Logger { mesh.logger }

    func channelActive(context: ChannelHandlerContext) {
        let queue = OutboundQueue(channel: context.channel, role: .peer, flow: mesh.settings.flow, counters: mesh.router.flowCounters)
        self.queue = queue
        context.writeAndFlush(NIOAny(ByteBuffer(bytes: PeerWire.streamHeader)), promise: nil)
        let configuration = mesh.configuration
        guard configuration.refusal == nil, let ownID = configuration.ownID else {
            refuse(configuration.refusal ?? "no ID", peer: nil)
            return
        }
        queue.enqueue(PeerWire.element(.hello(id: ownID, host: mesh.hostname, nonce: ownNonce)))
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(30)) { [self] in
            if case .established = phase { return }
            refuse("no handshake within 30 seconds", peer: peerID)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        routing.finishRead(gate: nil)
        if let queue {
            queue.close()
            if let session { mesh.router.detach(session) }
            if case .established(let peer) = phase { mesh.linkEnded(peer: peer.id, queue: queue) }
        }
        if case .established = phase {} else { established?.fail(PeerLinkError(reason: "the link closed during the handshake")) }
        session = nil
        phase = .closing
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let queue else { return }
        guard case .stanza(let stanza) = unwrapInboundIn(data) else {
            if case .streamClosed = unwrapInboundIn(data) { context.close(promise: nil) }
            return
        }
        if case .closing = phase { return }
        queue.received.add(1, ordering: .relaxed)
        queue.bytesReceived.add(stanza.readableBytes, ordering: .relaxed)
        let decoded: (sequence: UInt64, message: PeerMessage)
        do {
            decoded = try stanza.withUnsafeReadableBytes { try PeerWire.decode($0) }
        } catch {
            refuse("bad peer message: \(error)", peer: peerID)
            return
        }
        if decoded.sequence < expectedSequence {
            logger.log(.peerDetail, .debug, "Duplicate peer message dropped", metadata: ["psepr.peer": "\(peerID ?? "")", "psepr.seq": "\(decoded.sequence)"])
            return
        }
        if decoded.sequence > expectedSequence {
            logger.log(.peer, .warning, "Peer messages missing", metadata: ["psepr.peer": "\(peerID ?? "")", "psepr.expected": "\(expectedSequence)", "psepr.seq": "\(decoded.sequence)"])
        }
        expectedSequence = decoded.sequence + 1
        if case .error(let reason) = decoded.message {
            logger.log(.peer, .warning, "The peer closed the link", metadata: ["psepr.peer": "\(peerID ?? "")", "psepr.reason": "\(reason)"])
            if case .established = phase {} else {
                mesh.report(.refused(peer: peerID, reason: "refused by the peer: \(reason)"))
                established?.fail(PeerLinkError(reason: "refused by the peer: \(reason)"))
            }
            phase = .closing
            queue.flushThenClose()
            return
        }
        switch phase {
        case .awaitingHello: receiveHello(decoded.message, queue: queue)
        case .awaitingAuth(let peer, let nonce): receiveAuth(decoded.message, peer: peer, peerNonce: nonce, queue: queue)
        case .established(let peer): receive(decoded.message, stanza: stanza, from: peer, queue: queue)
        case .closing: break
        }
    }

    private var peerID: String? {
        switch phase {
        case .awaitingAuth(let peer, _), .established(let peer): peer.id
        default: if case .dialled(let id) = direction { id } else { nil }
        }
    }

    private func receiveHello(_ message: PeerMessage, queue: OutboundQueue) {
        guard case .hello(let id, let host, let nonce) = message else { return refuse("expected <hello>", peer: peerID) }
        let configuration = mesh.configuration
        guard let ownID = configuration.ownID, let ownKey = configuration.ownAuthKey else { return refuse("this server has no ID", peer: id) }
        if case .dialled(let expected) = direction, expected != id {
            return refuse("expected the peer with ID \(expected), reached ID \(id)", peer: expected)
        }
        guard let peer = configuration.peer(id: id) else { return refuse("ID \(id) (\(host)) is not in this server's peer list", peer: id) }
        phase = .awaitingAuth(peer, nonce: nonce)
        let proof = PeerMesh.proof(authKey: ownKey, senderID: ownID, receiverID: id, receiverNonce: nonce, senderNonce: ownNonce)
        queue.enqueue(PeerWire.element(.auth(proof: proof)))
    }

    private func receiveAuth(_ message: PeerMessage, peer: PeerEntry, peerNonce: String, queue: OutboundQueue) {
        guard case .auth(let proof) = message else { return refuse("expected <auth>", peer: peer.id) }
        guard let ownID = mesh.configuration.ownID else { return refuse("this server has no ID", peer: peer.id) }
        guard PeerMesh.isValidProof(proof, authKey: peer.authKey, senderID: peer.id, receiverID: ownID, receiverNonce: ownNonce, senderNonce: peerNonce) else {
            return refuse("peer \(peer.id) does not hold the authKey this server has for it", peer: peer.id)
        }
        handshakeTimer?.cancel()
        phase = .established(peer)
        queue.account = peer.id
        queue.channel.triggerUserOutboundEvent(ConnectionAuthenticated(), promise: nil)
        session = mesh.router.attach(queue)
        mesh.router.countConnection(.peer)
        mesh.linkEstablished(peer: peer.id, queue: queue)
        established?.succeed()
    }

    private func receive(_ message: PeerMessage, stanza: ByteBuffer, from peer: PeerEntry, queue: OutboundQueue) {
        switch message {
        case .event(let event, let range):
            let element = range.flatMap { stanza.getSlice(at: stanza.readerIndex + $0.lowerBound, length: $0.count) }
            mesh.router.route(event, forwarding: element, origin: .peer, routing: &routing)
        case .relayed(let stamp, let event, let range):
            // Taken once, whichever path brought it first; a repeat goes no further. Counted as
            // handled only once routed, so a count that matches the peers' sends means nothing
            // is in flight.
            defer { mesh.relayedHandled() }
            guard mesh.admit(stamp) else { return }
            let element = range.flatMap { stanza.getSlice(at: stanza.readerIndex + $0.lowerBound, length: $0.count) }
            mesh.router.route(event, forwarding: element, origin: .peer, relayed: (stamp, queue), routing: &routing)
        case .register(let identifier, let channel, let namespace, let seconds, let hops):
            guard let session else { return }
            let granted = min(seconds, mesh.settings.leaseSeconds * 2)
            let ok = mesh.router.lease(
                session: session, identifier: identifier, channel: channel, namespaceFilter: namespace, service: nil, instance: nil,
                seconds: granted, maximumLeases: mesh.settings.maximumLeasesPerPeer, everyAddressee: true
            )
            if ok {
                mesh.peerLeased(peer: peer.id, queue: queue, identifier: identifier, interest: Interest(channel: channel, namespace: namespace), hops: hops, seconds: granted)
            }
            queue.enqueue(PeerWire.element(ok ? .granted(identifier: identifier, seconds: granted) : .refused(identifier: identifier, reason: "too many leases")))
            logger.log(.leaseDetail, .debug, ok ? "Peer lease granted" : "Peer lease refused", metadata: ["psepr.peer": "\(peer.id)", "psepr.channel": "\(channel)"])
        case .unregister(let identifier):
            guard let session else { return }
            mesh.router.release(session: session, identifier: identifier)
            mesh.peerReleased(peer: peer.id, queue: queue, identifier: identifier)
            queue.enqueue(PeerWire.element(.released(identifier: identifier)))
        case .granted(let identifier, _):
            mesh.report(.granted(peer: peer.id, identifier: identifier))
        case .released(let identifier):
            mesh.report(.released(peer: peer.id, identifier: identifier))
        case .refused(let identifier, let reason):
            logger.log(.peer, .warning, "A peer refused a lease", metadata: ["psepr.peer": "\(peer.id)", "psepr.identifier": "\(identifier)", "psepr.reason": "\(reason)"])
        case .ping:
            queue.enqueue(PeerWire.element(.pong))
        case .pong:
            break
        case .error:
            break  // handled before the phases
        case .hello, .auth:
            refuse("handshake message after the handshake", peer: peer.id)
        }
    }

    /// Ends the link, telling the other side why, and logs it.
    private func refuse(_ reason: String, peer: String?) {
        if case .closing = phase { return }
        phase = .closing
        logger.log(.badError, .warning, "Peer link refused", metadata: ["psepr.peer": "\(peer ?? "unknown")", "psepr.reason": "\(reason)"])
        mesh.report(.refused(peer: peer, reason: reason))
        established?.fail(PeerLinkError(reason: reason))
        queue?.enqueue(PeerWire.element(.error(reason: reason)))
        queue?.flushThenClose()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            logger.log(.peer, .notice, "Closing a silent peer link", metadata: ["psepr.peer": "\(peerID ?? "")"])
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? PsEPRError {
            refuse("bad XML: \(error.reason)", peer: peerID)
        } else {
            logger.log(.peer, .info, "Peer link failed", metadata: ["psepr.peer": "\(peerID ?? "")", "error": "\(error)"])
            context.close(promise: nil)
        }
    }
}

/// A peer link that did not come up.
struct PeerLinkError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
