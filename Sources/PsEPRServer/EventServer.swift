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

extension EventServer {
    /// Runs a server for the duration of `body`, which gets the bound client and OneEvent ports;
    /// the server shuts down gracefully when `body` returns or throws.
    public static func withRunning<Result>(
        configuration: EventServerConfiguration, router: EventRouter = EventRouter(), logger: Logger,
        _ body: (_ clientPort: Int, _ oneEventPort: Int) async throws -> Result
    ) async throws -> Result {
        let (ports, portSink) = AsyncStream.makeStream(of: (Listener, Int).self)
        let server = EventServer(configuration: configuration, router: router, logger: logger) { listener, address in
            portSink.yield((listener, address.port ?? 0))
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var client: Int?, oneEvent: Int?
            var iterator = ports.makeAsyncIterator()
            while client == nil || oneEvent == nil, let (listener, port) = await iterator.next() {
                if listener == .client { client = port } else { oneEvent = port }
            }
            portSink.finish()
            let result: Result
            do {
                guard let client, let oneEvent else { throw EventServerStartError() }
                result = try await body(client, oneEvent)
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
struct EventServerStartError: Error, CustomStringConvertible {
    var description: String { "the PsEPR server stopped before its listeners were ready" }
}
