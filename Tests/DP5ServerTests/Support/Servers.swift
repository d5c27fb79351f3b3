import DP5Client
import DP5Core
import DP5Server
import Logging
import NIOCore
import ServiceLifecycle
import Testing

/// Runs one server in a service group for the duration of `body`, which gets its port; the
/// server is shut down gracefully afterwards, also when `body` throws.
func runServer(
    _ configuration: ServerConfiguration,
    clock: any EpochClock = FixedClock(),
    logger: Logger,
    _ body: (Int) async throws -> Void
) async throws {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let server = DP5Server(configuration: configuration, clock: clock, logger: logger) { continuation.yield($0.port ?? 0) }
    let group = ServiceGroup(services: [server], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The server stopped before listening: its error ends the group.
            try await tasks.waitForAll()
            throw ConfigurationError(key: nil, "the server stopped before it was listening")
        }
        do {
            try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

/// A logger that keeps every line, so a test can read what a server logged.
func collectingLogger(_ lines: LogLines, level: Logger.Level = .info) -> Logger {
    var logger = Logger(label: "dp5.test") { _ in CollectingLogHandler(lines: lines) }
    logger.logLevel = level
    return logger
}
