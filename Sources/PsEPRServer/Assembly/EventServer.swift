public import Logging
public import NIOCore
public import ServiceLifecycle

/// A PsEPR server: the client and OneEvent listeners, the router between them, the LeasePeer
/// mesh (when configured), the built-in services (status, discovery, accounting, commands) and
/// the Gleaner.
///
/// Run it in a `ServiceGroup`; graceful shutdown closes the listeners and links.
public struct EventServer: Service, CustomStringConvertible {
    /// The settings it started with.
    public let configuration: EventServerConfiguration
    /// The router, for status and tests.
    public let router: EventRouter
    /// The settings in effect (commands and account tables change them while it runs).
    public let live: LiveConfiguration
    private let context: ServerContext
    private let onListening: @Sendable (_ listener: Listener, _ address: SocketAddress) async -> Void

    /// Which listener an address belongs to.
    public enum Listener: Sendable { case client, oneEvent, leasePeer, monitor }

    /// Creates a server.
    ///
    /// - Parameters:
    ///   - logControl: the log's filter and file, for the `filterLevel` and `resetLogfile` commands.
    ///   - onMeshEvent: called as peer links come and go (tests, demos).
    ///   - onListening: called with each listener's bound address (tests bind port 0).
    ///   - clock: what the periodic services wait on (a test's own clock moves them by hand).
    public init(
        configuration: EventServerConfiguration,
        router: EventRouter = EventRouter(),
        clock: any Clock<Duration> = ContinuousClock(),
        logger: Logger,
        logControl: LogControl? = nil,
        onMeshEvent: @escaping @Sendable (MeshEvent) -> Void = { _ in },
        onListening: @escaping @Sendable (_ listener: Listener, _ address: SocketAddress) async -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.router = router
        self.live = LiveConfiguration(configuration)
        let mesh = configuration.peer.configurationURL.map { _ in
            PeerMesh(configuration: configuration, router: router, logger: logger, observe: onMeshEvent)
        }
        self.context = ServerContext(
            router: router,
            live: live,
            logger: logger,
            logControl: logControl,
            mesh: mesh,
            clock: clock
        )
        self.onListening = onListening
    }

    /// Short, and without the configuration: service groups log their services' descriptions.
    public var description: String { "EventServer(\(configuration.serverName))" }

    /// Reads the peer list again now (as on SIGHUP) instead of at the next check.
    public func reloadPeerConfiguration() { context.mesh?.requestReload() }

    /// The IDs of the peers linked now.
    public var linkedPeers: [String] { context.mesh?.linkedPeers ?? [] }

    /// Whether this server relays events across its peers (its peer file is not a full mesh).
    public var relaysEvents: Bool { context.mesh?.isRelaying ?? false }

    /// Relayed events this server refused as already taken (they came again over another path).
    public var relayDuplicatesRefused: Int { context.mesh?.relayDuplicates.refused ?? 0 }

    /// Relayed events that arrived over peer links, new or not (with the router's
    /// ``EventRouter/relayedEventsSent`` across a mesh: nothing is in flight when the sums agree).
    public var relayedEventsReceived: Int { context.mesh?.relayedReceived ?? 0 }

    public func run() async throws {
        let context = self.context
        let onListening = self.onListening
        let bound: @Sendable (Listener, SocketAddress) async -> Void = { listener, address in
            context.bound(listener, address)
            await onListening(listener, address)
        }
        let tls = try configuration.tls.map(ServerTLS.init)
        let caps = UnauthenticatedCaps(configuration, logger: context.logger)
        func admission(_ listener: String, _ capacity: Int) -> AdmissionControl {
            AdmissionControl(listener: listener, capacity: capacity, logger: context.logger)
        }
        var services: [any Service] = [
            Gleaner(
                router: router,
                periodSeconds: configuration.gleanerPeriodSeconds,
                clock: context.clock,
                logger: context.logger
            ),
            FlowWatch(
                router: router,
                flows: [configuration.flow, configuration.peer.flow],
                clock: context.clock,
                logger: context.logger
            ),
            ClientListener(
                live: live,
                router: router,
                logger: context.logger,
                admission: admission("client", caps.client),
                tls: tls
            ) { await bound(.client, $0) },
            OneEventListener(
                live: live,
                router: router,
                logger: context.logger,
                admission: admission("oneEvent", caps.other)
            ) { await bound(.oneEvent, $0) },
            StatusReporter(context: context),
            Discovery(context: context),
            AccountingService(context: context),
            CommandService(context: context),
        ]
        if configuration.monitor.port != nil {
            services.append(MonitorService(context: context) { await bound(.monitor, $0) })
        }
        if let mesh = context.mesh {
            services.append(
                LeasePeerService(
                    mesh: mesh,
                    admission: admission("leasePeer", caps.other),
                    tls: tls,
                    clock: context.clock
                ) { await bound(.leasePeer, $0) }
            )
        } else {
            context.logger.log(
                .peer,
                .notice,
                "No peers: \(ServerSettings.Key.peerConfigurationURL) is not set, so this server serves its own clients only"
            )
        }
        try await ServiceGroup(services: services, logger: context.logger).run()
    }
}

extension EventServerConfiguration {
    /// The defaults, bound to 127.0.0.1 on free ports (demos, benchmarks, tests).
    public static func loopback(serverName: String = "localhost") -> EventServerConfiguration {
        var configuration = EventServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.clientPort = 0
        configuration.oneEventPort = 0
        configuration.serverName = serverName
        return configuration
    }
}

/// A server started by ``EventServer/withRunningServer(configuration:router:logger:onMeshEvent:_:)``.
public struct RunningEventServer: Sendable {
    /// The server.
    public let server: EventServer
    /// Its bound ports.
    public let ports: BoundPorts
    /// The client port.
    public var clientPort: Int { ports.client ?? 0 }
    /// The OneEvent port.
    public var oneEventPort: Int { ports.oneEvent ?? 0 }
    /// The LeasePeer port (0 without a mesh).
    public var peerPort: Int { ports.leasePeer ?? 0 }
    /// The monitoring port (0 when monitoring is off).
    public var monitorPort: Int { ports.monitor ?? 0 }

    public init(server: EventServer, ports: BoundPorts) {
        self.server = server
        self.ports = ports
    }
}

extension EventServer {
    /// Runs a server for the duration of `body`, which gets the bound client and OneEvent ports;
    /// the server shuts down gracefully when `body` returns or throws.
    public static func withRunning<Result>(
        configuration: EventServerConfiguration,
        router: EventRouter = EventRouter(),
        clock: any Clock<Duration> = ContinuousClock(),
        logger: Logger,
        _ body: (_ clientPort: Int, _ oneEventPort: Int) async throws -> Result
    ) async throws -> Result {
        try await withRunningServer(configuration: configuration, router: router, clock: clock, logger: logger) {
            running in
            try await body(running.clientPort, running.oneEventPort)
        }
    }

    /// Runs a server for the duration of `body`, which gets it with its bound ports (every
    /// listener is up when `body` starts); the server shuts down gracefully when `body` returns
    /// or throws.
    public static func withRunningServer<Result>(
        configuration: EventServerConfiguration,
        router: EventRouter = EventRouter(),
        clock: any Clock<Duration> = ContinuousClock(),
        logger: Logger,
        onMeshEvent: @escaping @Sendable (MeshEvent) -> Void = { _ in },
        _ body: (RunningEventServer) async throws -> Result
    ) async throws -> Result {
        let (ports, portSink) = AsyncStream.makeStream(of: (Listener, Int).self)
        let server = EventServer(
            configuration: configuration,
            router: router,
            clock: clock,
            logger: logger,
            onMeshEvent: onMeshEvent
        ) { listener, address in
            portSink.yield((listener, address.port ?? 0))
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // A server that fails to start ends the wait for its ports.
                defer { portSink.finish() }
                try await group.run()
            }
            let bound = await BoundPorts.awaitAll(
                ports,
                withLeasePeer: configuration.peer.configurationURL != nil,
                withMonitor: configuration.monitor.port != nil
            )
            portSink.finish()
            let result: Result
            do {
                guard bound.client != nil, bound.oneEvent != nil else {
                    // The group has stopped; its own error says why (a port in use, say).
                    try await tasks.waitForAll()
                    throw EventServerStartError()
                }
                result = try await body(RunningEventServer(server: server, ports: bound))
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }
}

/// The server stopped before both listeners were bound (the error is the group's).
public struct EventServerStartError: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the PsEPR server stopped before its listeners were ready" }
}
