public import DP5Core
public import DP5Server
public import Logging
import NIOCore
import ServiceLifecycle

/// The server stopped before it was listening.
public struct ServerDidNotStart: Error, CustomStringConvertible {
    public var description: String { "the server stopped before it was listening" }
}

/// Runs one server in a service group for the duration of `body`, which gets its port; the
/// server is shut down gracefully afterwards, also when `body` throws.
@discardableResult
public func runServer<Result>(
    _ configuration: ServerConfiguration,
    clock: any EpochClock = ManualEpochClock(),
    logger: Logger,
    _ body: (Int) async throws -> Result
) async throws -> Result {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let server = DP5Service(configuration: configuration, clock: clock, logger: logger) {
        continuation.yield($0.port ?? 0)
    }
    let group = ServiceGroup(services: [server], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The server stopped before listening: its error ends the group.
            try await tasks.waitForAll()
            throw ServerDidNotStart()
        }
        let result: Result
        do {
            result = try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}
