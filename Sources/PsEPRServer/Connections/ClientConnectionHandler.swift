import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PsEPRCore
import ServiceLifecycle
import Synchronization

/// One client connection on its event loop: feeds each read to the ``ClientSessionMachine``
/// (which frames, reads and decides) and carries out what it says: routing, lease operations,
/// replies, TLS, the login timer, closing.
///
/// The machine frames the bytes itself rather than behind a `ByteToMessageHandler`: each stanza
/// is handled where it is cut, with no boxing of frames and no pipeline hop per event.
final class ClientConnectionHandler: QueueDrainingHandler, ClientSessionSink {
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
    /// Whether the client has logged in (the login timer's question: the machine is not asked
    /// from outside a read).
    private var loggedIn = false

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
        self.machine = ClientSessionMachine(
            serverName: configuration.serverName,
            accounts: configuration.accounts,
            tls: tls?.policy ?? .unavailable,
            limits: configuration.limits
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
            guard !loggedIn else { return }
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
        guard !closing, let queue else { return }
        let bytes = unwrapInboundIn(data)
        queue.bytesReceived.add(bytes.readableBytes, ordering: .relaxed)
        let frames = machine.read(bytes, into: self)
        queue.received.add(frames, ordering: .relaxed)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        finishRead(context: context)
        context.fireChannelReadComplete()
    }

    /// Ends a read (or a resumed one): drains scheduled, the gate held by every subscriber the read
    /// took past its mark. A read that paused goes on once the gate opens (``ReadGate/Opened``),
    /// or at once on the next loop cycle when no subscriber held it after all.
    private func finishRead(context: ChannelHandlerContext) {
        routing.finishRead(gate: gate)
        guard machine.paused, gate?.isHeld != true else { return }
        context.eventLoop.assumeIsolated().execute { [self] in resumePausedRead(context: context) }
    }

    /// Reads on what a paused read kept.
    private func resumePausedRead(context: ChannelHandlerContext) {
        guard !closing, machine.paused, let queue else { return }
        queue.received.add(machine.resume(into: self), ordering: .relaxed)
        finishRead(context: context)
    }

    /// Whether to stop within a read: a subscriber it fed is past its high-water mark (a reader
    /// with no gate is never held back, so it never stops).
    func shouldPauseReading() -> Bool {
        gate != nil && routing.passedHighWater()
    }

    /// Routes an event the machine read (the bulk of the traffic).
    func route(_ event: Event, envelope: UInt64?, forwarding element: ByteBuffer?) {
        router.route(event, envelope: envelope, forwarding: element, routing: &routing)
    }

    /// Routes a run of events with one envelope that the machine read in one pass.
    func route(_ event: Event, envelope: UInt64, forwardingRun buffer: ByteBuffer, elements: [Range<Int>]) {
        router.route(event, envelope: envelope, forwardingRun: buffer, elements: elements, routing: &routing)
    }

    /// Carries out one action of the machine's; false once the connection is closing.
    func perform(_ action: ClientSessionMachine.Action) -> Bool {
        guard !closing, let queue, let session else { return false }
        // What the reader gathered for subscribers goes before anything this action sends.
        routing.flushBatches()
        switch action {
        case .send(let bytes):
            queue.enqueue(ByteBuffer(bytes: bytes))
        case .route(let event, let element):
            router.route(event, forwarding: element, routing: &routing)
        case .register(let operation, let channel, let service, let instance):
            register(operation, on: channel, service: service, instance: instance, session: session, queue: queue)
        case .unregister(let identifier):
            router.release(session: session, identifier: identifier)
            logger.log(.lease, .info, "Lease released", metadata: ["psepr.session": "\(session)"])
        case .startTLS:
            return startTLS(queue: queue)
        case .loggedIn(let service):
            loggedIn = true
            guard let loginTimer else { break }
            loginTimer.cancel()
            self.loginTimer = nil
            queue.account = service
            router.countLogin(accepted: true)
            queue.channel.triggerUserOutboundEvent(ConnectionAuthenticated(), promise: nil)
        case .badXML(let error):
            logger.log(
                .io,
                .info,
                "Connection sent bad XML",
                metadata: ["psepr.session": "\(session)", "error": "\(error)"]
            )
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
        return true
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ReadGate.Opened {
            resumePausedRead(context: context)
        } else if event is IdleStateHandler.IdleStateEvent {
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

    /// A read or TLS failure from the pipeline (broken XML is the machine's to answer).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        closing = true
        logger.log(
            .io,
            .debug,
            "Connection read failed",
            metadata: ["psepr.session": "\(session.map { "\($0)" } ?? "")", "error": "\(error)"]
        )
        context.close(promise: nil)
    }

    private func register(
        _ operation: LeaseOperation,
        on channel: ChannelName,
        service: String,
        instance: String?,
        session: SessionID,
        queue: OutboundQueue
    ) {
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
