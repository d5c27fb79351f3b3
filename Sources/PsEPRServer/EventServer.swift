public import Logging
public import NIOCore
public import ServiceLifecycle

/// A PsEPR server: the client and OneEvent listeners, the router between them, and the Gleaner.
///
/// Run it in a `ServiceGroup`; graceful shutdown closes the listeners.
public struct EventServer: Service {
    /// The settings.
    public let configuration: EventServerConfiguration
    /// The router, for status and tests.
    public let router: EventRouter
    private let logger: Logger
    private let onListening: @Sendable (_ listener: Listener, _ address: SocketAddress) async -> Void

    /// Which listener an address belongs to.
    public enum Listener: Sendable { case client, oneEvent }

    /// Creates a server.
    ///
    /// - Parameter onListening: called with each listener's bound address (tests bind port 0).
    public init(
        configuration: EventServerConfiguration,
        router: EventRouter = EventRouter(),
        logger: Logger,
        onListening: @escaping @Sendable (_ listener: Listener, _ address: SocketAddress) async -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let onListening = self.onListening
        let group = ServiceGroup(
            services: [
                Gleaner(router: router, periodSeconds: configuration.gleanerPeriodSeconds, logger: logger),
                ClientListener(configuration: configuration, router: router, logger: logger) { await onListening(.client, $0) },
                OneEventListener(configuration: configuration, router: router, logger: logger) { await onListening(.oneEvent, $0) },
            ],
            logger: logger
        )
        try await group.run()
    }
}
