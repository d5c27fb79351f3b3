import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PsEPRCore
import ServiceLifecycle
import Synchronization

/// The client listener (port 23345).
///
/// Each connection is served on its event loop by a ``ClientConnectionHandler``: stanzas are
/// framed, handled and routed as function calls in the read path, with no task or actor hop per
/// event; deliveries go out through each subscriber's ``OutboundQueue`` in batches.
struct ClientListener: Service {
    let live: LiveConfiguration
    let router: EventRouter
    let logger: Logger
    /// Connections that have not logged in yet.
    let admission: AdmissionControl
    /// STARTTLS, when a certificate is configured.
    let tls: ServerTLS?
    let onListening: @Sendable (SocketAddress) async -> Void
    private let connections = ConnectionCount()

    init(
        live: LiveConfiguration,
        router: EventRouter,
        logger: Logger,
        admission: AdmissionControl,
        tls: ServerTLS?,
        onListening: @escaping @Sendable (SocketAddress) async -> Void
    ) {
        self.live = live
        self.router = router
        self.logger = logger
        self.admission = admission
        self.tls = tls
        self.onListening = onListening
    }

    func run() async throws {
        let configuration = live.current
        if configuration.accounts == nil {
            logger.log(
                .services,
                .warning,
                "No account table configured (\(ServerSettings.Key.accountFile)): any service name and password may log in"
            )
        }
        let live = self.live
        let router = self.router
        let logger = self.logger
        let connections = self.connections
        let admission = self.admission
        let tls = self.tls
        let server = try await bindingListener(
            admission.listener,
            host: configuration.host,
            port: configuration.clientPort,
            parameter: ServerSettings.Key.clientPort
        ) {
            try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Each connection works with the settings in effect when it opened.
                        let configuration = live.current
                        let handlers = channel.pipeline.syncOperations
                        try handlers.addHandler(AdmissionHandler(admission: admission))
                        try handlers.addHandler(
                            IdleStateHandler(readTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))
                        )
                        let gate = ReadGate(channel: channel)
                        try handlers.addHandler(gate)
                        try handlers.addHandler(
                            ClientConnectionHandler(
                                configuration: configuration,
                                router: router,
                                logger: logger,
                                connections: connections,
                                gate: gate,
                                tls: tls
                            )
                        )
                    }
                }
                .bind(host: configuration.host, port: configuration.clientPort)
                .get()
        }
        if let address = server.localAddress {
            logger.log(
                .services,
                .info,
                "Listener ready",
                metadata: ["psepr.listener": "client", "psepr.address": "\(address)"]
            )
            await onListening(address)
        }
        // Shutdown closes the listener and then every open connection.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await server.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            server.close(promise: nil)
        }
        router.closeAllConnections()
    }
}
