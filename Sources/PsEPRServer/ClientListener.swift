import Logging
import NIOCore
import NIOPosix
import PsEPRCore
import ServiceLifecycle
import Synchronization

/// Open client connections, against `maximumConnections`.
final class ConnectionCount: Sendable {
    private let count = Mutex(0)

    /// Counts one more connection unless `maximum` are open already.
    func admit(maximum: Int) -> Bool {
        count.withLock { count in
            guard count < maximum else { return false }
            count += 1
            return true
        }
    }

    func release() { count.withLock { $0 -= 1 } }
}

/// Whether a connection has logged in, shared by its reader and its login timer.
final class LoginFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// The client listener (port 23345): one task per connection, reading stanzas and writing
/// from the connection's bounded queue.
struct ClientListener: Service {
    let configuration: EventServerConfiguration
    let router: EventRouter
    let logger: Logger
    let onListening: @Sendable (SocketAddress) async -> Void
    private let connections = ConnectionCount()

    init(configuration: EventServerConfiguration, router: EventRouter, logger: Logger, onListening: @escaping @Sendable (SocketAddress) async -> Void) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.onListening = onListening
    }

    func run() async throws {
        if configuration.accounts == nil {
            logger.log(.services, .warning, "No account table configured (\(ServerSettings.Key.accountFile)): any service name and password may log in")
        }
        try await runStanzaListener(
            host: configuration.host, port: configuration.clientPort, mode: .stream, limits: configuration.limits,
            idleTimeoutSeconds: configuration.idleTimeoutSeconds, name: "client", logger: logger, onListening: onListening
        ) { await self.serve($0) }
    }

    private func serve(_ connection: NIOAsyncChannel<StreamFrame, ByteBuffer>) async {
        let admitted = connections.admit(maximum: configuration.maximumConnections)
        guard admitted else {
            logger.log(.io, .notice, "Connection refused: maximumConnections reached", metadata: ["psepr.maximum": "\(configuration.maximumConnections)"])
            try? await connection.channel.close()
            return
        }
        defer { connections.release() }
        let queue = OutboundQueue(capacity: configuration.outboundQueueMax, disconnectAfterDrops: configuration.disconnectAfterDrops)
        let session = router.attach(queue)
        defer {
            router.detach(session)
            if queue.droppedCount > 0 {
                logger.log(.io, .info, "Connection dropped stanzas", metadata: ["psepr.session": "\(session)", "psepr.dropped": "\(queue.droppedCount)", "psepr.overrun": "\(queue.isOverrun)"])
            }
        }
        let authenticated = LoginFlag()
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: ConnectionTask.self) { group in
                    group.addTask {
                        for await stanza in queue.stream { try await outbound.write(stanza) }
                        return .writerFinished
                    }
                    group.addTask {
                        defer { queue.finish() }
                        await read(inbound, session: session, queue: queue, authenticated: authenticated)
                        return .readerFinished
                    }
                    group.addTask {
                        try await Task.sleep(for: .seconds(configuration.authenticationTimeoutSeconds))
                        return authenticated.isSet ? .loginChecked : .loginTimedOut
                    }
                    // The writer ends once the reader is done and the queue is drained, or when a
                    // slow consumer overruns its queue; that, or a login timeout, ends the
                    // connection. A finished reader waits for the writer; a passed login check
                    // ends nothing.
                    while let finished = try await group.next(), finished == .loginChecked || finished == .readerFinished {}
                    group.cancelAll()
                }
            }
        } catch {
            logger.log(.io, .debug, "Connection ended", metadata: ["psepr.session": "\(session)", "error": "\(error)"])
        }
    }

    private enum ConnectionTask: Sendable { case writerFinished, readerFinished, loginChecked, loginTimedOut }

    private func read(
        _ inbound: NIOAsyncChannelInboundStream<StreamFrame>, session: SessionID, queue: OutboundQueue, authenticated: LoginFlag
    ) async {
        var machine = ClientSessionMachine(serverName: configuration.serverName, streamID: Self.streamID(), accounts: configuration.accounts)
        do {
            frames: for try await frame in inbound {
                for action in machine.receive(frame) {
                    if case .close(let reason) = action {
                        logger.log(.io, .debug, "Closing a connection", metadata: ["psepr.session": "\(session)", "psepr.reason": "\(reason)"])
                        break frames
                    }
                    perform(action, machine: machine, session: session, queue: queue)
                }
                if machine.isAuthenticated { authenticated.set() }
            }
        } catch let error as PsEPRError {
            // Broken XML, a DOCTYPE, an oversized stanza: this connection ends, no other.
            queue.enqueue(ByteBuffer(bytes: StanzaEncoder.messageError(id: nil, condition: "not-well-formed", text: error.reason)))
            queue.enqueue(ByteBuffer(bytes: StanzaEncoder.streamEnd))
            logger.log(.io, .info, "Connection sent bad XML", metadata: ["psepr.session": "\(session)", "error": "\(error)"])
        } catch {
            logger.log(.io, .debug, "Connection read failed", metadata: ["psepr.session": "\(session)", "error": "\(error)"])
        }
    }

    private func perform(_ action: ClientSessionMachine.Action, machine: ClientSessionMachine, session: SessionID, queue: OutboundQueue) {
        switch action {
        case .send(let bytes):
            queue.enqueue(ByteBuffer(bytes: bytes))
        case .route(let event):
            router.route(event)
        case .register(let operation, let channel):
            guard case .authenticated(let service, let instance) = machine.phase else { return }
            let seconds = configuration.grantedSeconds(requested: operation.duration)
            let granted = router.lease(
                session: session, identifier: operation.identifier, channel: channel, namespaceFilter: operation.namespaceFilter,
                service: service, instance: instance, seconds: seconds, maximumLeases: configuration.maximumLeasesPerConnection
            )
            let reply = LeaseOperation(
                operation: granted ? .lease : .refused, identifier: operation.identifier, duration: granted ? seconds : nil,
                namespaceFilter: operation.namespaceFilter, reason: granted ? nil : "this connection holds \(configuration.maximumLeasesPerConnection) leases already"
            )
            // The grant goes only to the requester, after the route is in place.
            let grant = Event(
                channel: channel, toService: service, toInstance: instance, fromService: "psepr_registry", fromInstance: configuration.serverName,
                payloadNamespace: LeaseOperation.namespace, payload: reply.payloadBytes
            )
            queue.enqueue(ByteBuffer(bytes: StanzaEncoder.message(grant, id: "lease-\(operation.identifier.prefix(32))")))
            logger.log(
                .lease, .info, granted ? "Lease granted" : "Lease refused",
                metadata: ["psepr.session": "\(session)", "psepr.service": "\(service)", "psepr.channel": "\(channel)", "psepr.seconds": "\(seconds)"]
            )
        case .unregister(let identifier):
            router.release(session: session, identifier: identifier)
            logger.log(.lease, .info, "Lease released", metadata: ["psepr.session": "\(session)"])
        case .close:
            break
        }
    }

    static func streamID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<12).map { _ in alphabet.randomElement()! })
    }
}
