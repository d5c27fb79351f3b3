import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PsEPRCore
import ServiceLifecycle
import Synchronization

/// One client connection's protocol work on its event loop: framing, the session machine, lease
/// operations, routing, the login timer, and closing with an error stanza on broken XML.
///
/// The handler frames the bytes itself rather than behind a `ByteToMessageHandler`: each stanza
/// is handled where it is cut, with no boxing of frames and no pipeline hop per event.
final class ClientConnectionHandler: QueueDrainingHandler {
    typealias InboundIn = ByteBuffer

    private let configuration: EventServerConfiguration
    private let router: EventRouter
    private let logger: Logger
    private let connections: ConnectionCount
    private let tls: ServerTLS?
    private var machine: ClientSessionMachine
    private(set) var queue: OutboundQueue?
    private var session: SessionID?
    private var loginTimer: Scheduled<Void>?
    private var closing = false
    var routing = RoutingScratch()
    /// Holds this connection's reads back while subscribers it feeds are over their high-water mark.
    let gate: ReadGate?
    private var framer: XMLStreamFramer
    /// Bytes of an unfinished stanza, kept until the rest arrives.
    private var unframed: ByteBuffer?
    /// Set when TLS starts: what the client sent after `<starttls/>`, in the clear, is dropped.
    private var dropUnreadInput = false

    init(
        configuration: EventServerConfiguration,
        router: EventRouter,
        logger: Logger,
        connections: ConnectionCount,
        gate: ReadGate?,
        tls: ServerTLS? = nil
    ) {
        self.configuration = configuration
        self.gate = gate
        self.router = router
        self.logger = logger
        self.connections = connections
        self.tls = tls
        self.framer = XMLStreamFramer(mode: .stream, limits: configuration.limits)
        self.machine = ClientSessionMachine(
            serverName: configuration.serverName,
            accounts: configuration.accounts,
            tls: tls?.policy ?? .unavailable
        )
    }

    func channelActive(context: ChannelHandlerContext) {
        guard connections.admit(maximum: configuration.maximumConnections) else {
            logger.log(
                .io,
                .notice,
                "Connection refused: maximumConnections reached",
                metadata: ["psepr.maximum": "\(configuration.maximumConnections)"]
            )
            router.countConnection(.client, accepted: false)
            closing = true
            context.close(promise: nil)
            return
        }
        let queue = OutboundQueue(channel: context.channel, flow: configuration.flow, counters: router.flowCounters)
        self.queue = queue
        session = router.attach(queue)
        router.countConnection(.client)
        let channel = context.channel
        loginTimer = context.eventLoop.assumeIsolated().scheduleTask(
            in: .seconds(Int64(configuration.authenticationTimeoutSeconds))
        ) { [self] in
            guard !machine.isAuthenticated else { return }
            logger.log(
                .io,
                .info,
                "Closing a connection that did not log in in time",
                metadata: ["psepr.session": "\(session.map { "\($0)" } ?? "")"]
            )
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        loginTimer?.cancel()
        routing.finishRead(gate: nil)
        if let session, let queue {
            router.detach(session)
            queue.close()
            connections.release()
            if queue.droppedCount > 0 {
                logger.log(
                    .io,
                    .info,
                    "Connection dropped stanzas",
                    metadata: [
                        "psepr.session": "\(session)", "psepr.dropped": "\(queue.droppedCount)",
                        "psepr.slowConsumer": "\(queue.isSlowConsumer)",
                    ]
                )
            }
            logger.log(.io, .debug, "Connection ended", metadata: ["psepr.session": "\(session)"])
        }
        session = nil
        queue = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var bytes = unwrapInboundIn(data)
        queue?.bytesReceived.add(bytes.readableBytes, ordering: .relaxed)
        if var pending = unframed {
            unframed = nil
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        do {
            while !closing {
                // Events in the usual shape are cut and read in one pass; everything else, and
                // anything not whole yet, goes through the framer.
                if framer.isBetweenStanzas, takeLeadingEvent(&bytes) { continue }
                guard let frame = try framer.decode(buffer: &bytes) else { break }
                receive(frame)
                if dropUnreadInput {
                    dropUnreadInput = false
                    bytes.moveReaderIndex(to: bytes.writerIndex)
                }
            }
        } catch {
            errorCaught(context: context, error: error)
            return
        }
        if bytes.readableBytes > 0 {
            // Keep the unfinished stanza; compact once most of the buffer has been consumed.
            if bytes.readerIndex > 4096 && bytes.readerIndex > bytes.readableBytes { bytes.discardReadBytes() }
            unframed = bytes
        }
    }

    /// Routes the event at the front of `bytes`, when the session machine can take it off
    /// there (after any whitespace, which the framer would drop too); false leaves the rest to
    /// the framer.
    private func takeLeadingEvent(_ bytes: inout ByteBuffer) -> Bool {
        guard machine.isAuthenticated, let queue, let session else { return false }
        let start = bytes.withUnsafeReadableBytes { raw in
            var index = 0
            while index < raw.count, XMLStreamFramer.isWhitespace(raw[index]) { index += 1 }
            return index < raw.count && raw[index] == UInt8(ascii: "<") ? index : nil
        }
        guard let start else { return false }
        var input = bytes.getSlice(at: bytes.readerIndex + start, length: bytes.readableBytes - start)!
        guard let (action, stanza) = machine.takeLeadingEvent(from: &input, limits: configuration.limits) else {
            return false
        }
        bytes.moveReaderIndex(forwardBy: start + stanza.readableBytes)
        queue.received.add(1, ordering: .relaxed)
        switch action {
        case .route(let event, let range)?:
            let element = range.flatMap { stanza.getSlice(at: stanza.readerIndex + $0.lowerBound, length: $0.count) }
            router.route(event, forwarding: element, routing: &routing)
        case let action?:
            perform(action, frame: .stanza(stanza), session: session, queue: queue)
        case nil:
            break
        }
        return true
    }

    private func receive(_ frame: StreamFrame) {
        guard !closing, let queue, let session else { return }
        queue.received.add(1, ordering: .relaxed)
        if case .stanza(let stanza) = frame, case .handled(let action) = machine.scannedEvent(in: stanza) {
            switch action {
            case .route(let event, let range)?:
                // The bulk of the traffic, routed here without going through `perform`.
                let element = range.flatMap {
                    stanza.getSlice(at: stanza.readerIndex + $0.lowerBound, length: $0.count)
                }
                router.route(event, forwarding: element, routing: &routing)
            case let action?:
                perform(action, frame: frame, session: session, queue: queue)
            case nil:
                break
            }
            return
        }
        for action in machine.receive(frame, scanFirst: false) {
            guard perform(action, frame: frame, session: session, queue: queue) else { return }
        }
        if loginTimer != nil, case .authenticated(let service, _) = machine.phase {
            loginTimer?.cancel()
            loginTimer = nil
            queue.account = service
            router.countLogin(accepted: true)
            queue.channel.triggerUserOutboundEvent(ConnectionAuthenticated(), promise: nil)
        }
    }

    /// Carries out one action; false once the connection is closing.
    @discardableResult
    private func perform(
        _ action: ClientSessionMachine.Action,
        frame: StreamFrame,
        session: SessionID,
        queue: OutboundQueue
    ) -> Bool {
        // What the reader gathered for subscribers goes before anything this action sends.
        routing.flushBatches()
        switch action {
        case .send(let bytes):
            queue.enqueue(ByteBuffer(bytes: bytes))
        case .route(let event, let range):
            var element: ByteBuffer?
            if let range, case .stanza(let stanza) = frame {
                element = stanza.getSlice(at: stanza.readerIndex + range.lowerBound, length: range.count)
            }
            router.route(event, forwarding: element, routing: &routing)
        case .register(let operation, let channel):
            register(operation, on: channel, session: session, queue: queue)
        case .unregister(let identifier):
            router.release(session: session, identifier: identifier)
            logger.log(.lease, .info, "Lease released", metadata: ["psepr.session": "\(session)"])
        case .restartStream:
            resetStreamFramer()
        case .startTLS:
            return startTLS(queue: queue)
        case .loginRefused(let service, let reason):
            router.countLogin(accepted: false)
            logger.log(
                .io,
                .notice,
                "Login refused",
                metadata: [
                    "psepr.session": "\(session)",
                    "psepr.remote": "\(queue.channel.remoteAddress.map { "\($0)" } ?? "")",
                    "psepr.service": "\(service)", "psepr.reason": "\(reason)",
                ]
            )
        case .close(let reason):
            logger.log(
                .io,
                .debug,
                "Closing a connection",
                metadata: ["psepr.session": "\(session)", "psepr.reason": "\(reason)"]
            )
            closing = true
            queue.flushThenClose()
            return false
        }
        return true
    }

    /// Runs TLS on the connection from here on: `<proceed/>` (queued before) goes out in the
    /// clear, then the TLS handler goes in front of everything; the client opens a new stream
    /// inside TLS.
    private func startTLS(queue: OutboundQueue) -> Bool {
        do {
            guard let tls, queue.channel.isWritable else { throw ChannelError.outputClosed }
            queue.drain()
            try queue.channel.pipeline.syncOperations.addHandler(
                NIOSSLServerHandler(context: tls.server),
                position: .first
            )
        } catch {
            closing = true
            queue.channel.close(promise: nil)
            return false
        }
        dropUnreadInput = true
        resetStreamFramer()
        return true
    }

    /// Starts framing a new XML stream with the next byte: after SASL success the client opens
    /// one on the same connection (RFC 6120 §6.4.6), after STARTTLS inside TLS. The only place the
    /// framer is replaced.
    private func resetStreamFramer() {
        framer = XMLStreamFramer(mode: .stream, limits: configuration.limits)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            logger.log(
                .io,
                .debug,
                "Closing an idle connection",
                metadata: ["psepr.session": "\(session.map { "\($0)" } ?? "")"]
            )
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        closing = true
        guard let queue, let error = error as? PsEPRError else {
            logger.log(
                .io,
                .debug,
                "Connection read failed",
                metadata: ["psepr.session": "\(session.map { "\($0)" } ?? "")", "error": "\(error)"]
            )
            context.close(promise: nil)
            return
        }
        // Broken XML, a DOCTYPE, an oversized stanza: this connection ends, no other; what it
        // published before goes out first.
        routing.flushBatches()
        logger.log(
            .io,
            .info,
            "Connection sent bad XML",
            metadata: ["psepr.session": "\(session.map { "\($0)" } ?? "")", "error": "\(error)"]
        )
        queue.enqueue(
            ByteBuffer(bytes: StanzaEncoder.messageError(id: nil, condition: "not-well-formed", text: error.reason))
        )
        queue.enqueue(ByteBuffer(bytes: StanzaEncoder.streamEnd))
        queue.flushThenClose()
    }

    private func register(
        _ operation: LeaseOperation,
        on channel: ChannelName,
        session: SessionID,
        queue: OutboundQueue
    ) {
        guard case .authenticated(let service, let instance) = machine.phase else { return }
        let seconds = configuration.grantedSeconds(requested: operation.duration)
        let granted = router.lease(
            session: session,
            identifier: operation.identifier,
            channel: channel,
            namespaceFilter: operation.namespaceFilter,
            service: service,
            instance: instance,
            seconds: seconds,
            maximumLeases: configuration.maximumLeasesPerConnection
        )
        let reply = LeaseOperation(
            operation: granted ? .lease : .refused,
            identifier: operation.identifier,
            duration: granted ? seconds : nil,
            namespaceFilter: operation.namespaceFilter,
            reason: granted ? nil : "this connection holds \(configuration.maximumLeasesPerConnection) leases already"
        )
        // The grant goes only to the requester, after the route is in place.
        let grant = Event(
            channel: channel,
            toService: service,
            toInstance: instance,
            fromService: "psepr_registry",
            fromInstance: configuration.serverName,
            payloadNamespace: LeaseOperation.namespace,
            payload: reply.payloadBytes
        )
        queue.enqueue(ByteBuffer(bytes: StanzaEncoder.message(grant, id: "lease-\(operation.identifier.prefix(32))")))
        logger.log(
            .lease,
            .info,
            granted ? "Lease granted" : "Lease refused",
            metadata: [
                "psepr.session": "\(session)", "psepr.service": "\(service)", "psepr.channel": "\(channel)",
                "psepr.seconds": "\(seconds)",
            ]
        )
    }
}
