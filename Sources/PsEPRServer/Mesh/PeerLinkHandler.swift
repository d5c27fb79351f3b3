import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// One LeasePeer link on its event loop, dialled or accepted: the handshake, then the peer's
/// lease requests (installed in the router for the peer's queue), the answers to this server's
/// requests, events (routed to local subscribers only) and keep-alive.
///
/// The handshake is ``PeerHandshake``'s; a refusal closes the link with `<error reason>` and is
/// logged.
final class PeerLinkHandler: QueueDrainingHandler {
    typealias InboundIn = StreamFrame

    private let mesh: PeerMesh
    private let established: EventLoopPromise<Void>?
    private var handshake: PeerHandshake
    /// The link is ending (refused, or closed): nothing more is read from it.
    private var closing = false
    private(set) var queue: OutboundQueue?
    private var session: SessionID?
    private var expectedSequence: UInt64 = 1
    private var handshakeTimer: Scheduled<Void>?
    var routing = RoutingScratch()
    /// Holds this link's reads back while local subscribers it feeds are over their high-water mark.
    let gate: ReadGate?

    /// - Parameter established: succeeded when the handshake passes, failed if the link ends first.
    init(
        mesh: PeerMesh,
        direction: PeerHandshake.Direction,
        gate: ReadGate?,
        established: EventLoopPromise<Void>? = nil
    ) {
        self.mesh = mesh
        self.gate = gate
        self.handshake = PeerHandshake(direction: direction)
        self.established = established
    }

    /// The peer, once the handshake has passed.
    private var peer: PeerEntry? { if case .established(let peer) = handshake.state { peer } else { nil } }

    private var peerID: String? { handshake.peerID }

    private var logger: Logger { mesh.logger }

    func channelActive(context: ChannelHandlerContext) {
        let queue = OutboundQueue(
            channel: context.channel,
            role: .peer,
            flow: mesh.settings.flow,
            counters: mesh.router.flowCounters
        )
        self.queue = queue
        context.writeAndFlush(NIOAny(ByteBuffer(bytes: PeerWire.streamHeader)), promise: nil)
        perform(handshake.start(mesh.configuration, hostname: mesh.hostname), queue: queue)
        if !closing {
            handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(30)) { [self] in
                if handshake.isEstablished || closing { return }
                perform(handshake.refuse("no handshake within 30 seconds"), queue: queue)
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        routing.finishRead(gate: nil)
        if let queue {
            queue.close()
            if let session { mesh.router.detach(session) }
            if let peer { mesh.linkEnded(peer: peer.id, queue: queue) }
        }
        if !handshake.isEstablished { established?.fail(PeerLinkError(reason: "the link closed during the handshake")) }
        session = nil
        closing = true
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let queue else { return }
        guard case .stanza(let stanza) = unwrapInboundIn(data) else {
            if case .streamClosed = unwrapInboundIn(data) { context.close(promise: nil) }
            return
        }
        if closing { return }
        queue.received.add(1, ordering: .relaxed)
        queue.bytesReceived.add(stanza.readableBytes, ordering: .relaxed)
        let decoded: (sequence: UInt64, message: PeerMessage)
        do {
            decoded = try stanza.withUnsafeReadableBytes { try PeerWire.decode($0) }
        } catch {
            perform(handshake.refuse("bad peer message: \(error)"), queue: queue)
            return
        }
        if decoded.sequence < expectedSequence {
            logger.log(
                .peerDetail,
                .debug,
                "Duplicate peer message dropped",
                metadata: ["psepr.peer": "\(peerID ?? "")", "psepr.seq": "\(decoded.sequence)"]
            )
            return
        }
        if decoded.sequence > expectedSequence {
            logger.log(
                .peer,
                .warning,
                "Peer messages missing",
                metadata: [
                    "psepr.peer": "\(peerID ?? "")", "psepr.expected": "\(expectedSequence)",
                    "psepr.seq": "\(decoded.sequence)",
                ]
            )
        }
        expectedSequence = decoded.sequence + 1
        if case .error(let reason) = decoded.message {
            logger.log(
                .peer,
                .warning,
                "The peer closed the link",
                metadata: ["psepr.peer": "\(peerID ?? "")", "psepr.reason": "\(reason)"]
            )
            if !handshake.isEstablished {
                mesh.report(.refused(peer: peerID, reason: "refused by the peer: \(reason)"))
                established?.fail(PeerLinkError(reason: "refused by the peer: \(reason)"))
            }
            closing = true
            queue.flushThenClose()
            return
        }
        if let peer {
            receive(decoded.message, stanza: stanza, from: peer, queue: queue)
        } else if let action = handshake.receive(decoded.message, mesh.configuration) {
            perform(action, queue: queue)
        }
    }

    /// Carries out what the handshake decided.
    private func perform(_ action: PeerHandshake.Action, queue: OutboundQueue) {
        switch action {
        case .send(let message):
            queue.enqueue(PeerWire.element(message))
        case .establish(let peer):
            handshakeTimer?.cancel()
            queue.account = peer.id
            queue.channel.triggerUserOutboundEvent(ConnectionAuthenticated(), promise: nil)
            session = mesh.router.attach(queue)
            mesh.router.countConnection(.peer)
            mesh.linkEstablished(peer: peer.id, queue: queue)
            established?.succeed()
        case .refuse(let reason, let peer):
            if closing { return }
            closing = true
            logger.log(
                .badError,
                .warning,
                "Peer link refused",
                metadata: ["psepr.peer": "\(peer ?? "unknown")", "psepr.reason": "\(reason)"]
            )
            mesh.report(.refused(peer: peer, reason: reason))
            established?.fail(PeerLinkError(reason: reason))
            queue.enqueue(PeerWire.element(.error(reason: reason)))
            queue.flushThenClose()
        }
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
                session: session,
                identifier: identifier,
                channel: channel,
                namespaceFilter: namespace,
                service: nil,
                instance: nil,
                seconds: granted,
                maximumLeases: mesh.settings.maximumLeasesPerPeer,
                everyAddressee: true
            )
            if ok {
                mesh.peerLeased(
                    peer: peer.id,
                    queue: queue,
                    identifier: identifier,
                    interest: Interest(channel: channel, namespace: namespace),
                    hops: hops,
                    seconds: granted
                )
            }
            queue.enqueue(
                PeerWire.element(
                    ok
                        ? .granted(identifier: identifier, seconds: granted)
                        : .refused(identifier: identifier, reason: "too many leases")
                )
            )
            logger.log(
                .leaseDetail,
                .debug,
                ok ? "Peer lease granted" : "Peer lease refused",
                metadata: ["psepr.peer": "\(peer.id)", "psepr.channel": "\(channel)"]
            )
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
            logger.log(
                .peer,
                .warning,
                "A peer refused a lease",
                metadata: [
                    "psepr.peer": "\(peer.id)", "psepr.identifier": "\(identifier)", "psepr.reason": "\(reason)",
                ]
            )
        case .ping:
            queue.enqueue(PeerWire.element(.pong))
        case .pong:
            break
        case .error:
            break  // handled before the phases
        case .hello, .auth:
            refuse(handshake.refuse("handshake message after the handshake"))
        }
    }

    /// Ends the link for `action`'s reason, when there is still a queue to say it on.
    private func refuse(_ action: PeerHandshake.Action) {
        if let queue { perform(action, queue: queue) }
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
            refuse(handshake.refuse("bad XML: \(error.reason)"))
        } else {
            logger.log(
                .peer,
                .info,
                "Peer link failed",
                metadata: ["psepr.peer": "\(peerID ?? "")", "error": "\(error)"]
            )
            context.close(promise: nil)
        }
    }
}

/// A peer link that did not come up.
struct PeerLinkError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
