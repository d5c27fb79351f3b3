import Logging
public import PsEPRServer
import NIOCore
import ServiceLifecycle

/// A test's own failure, with what was seen.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a server on 127.0.0.1 (ports 0 unless `configure` sets them) for the duration of `body`.
@discardableResult
public func withEventServer<Result>(
    configure: (inout EventServerConfiguration) -> Void = { _ in },
    router: EventRouter = EventRouter(),
    _ body: (_ clientPort: Int, _ oneEventPort: Int, _ router: EventRouter) async throws -> Result
) async throws -> Result {
    var configuration = EventServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.clientPort = 0
    configuration.oneEventPort = 0
    configuration.serverName = "test.psepr"
    configure(&configuration)
    let (ports, continuation) = AsyncStream.makeStream(of: (EventServer.Listener, Int).self)
    let logger = Logger(label: "psepr.test")
    let server = EventServer(configuration: configuration, router: router, logger: logger) { listener, address in
        continuation.yield((listener, address.port ?? 0))
    }
    let group = ServiceGroup(services: [server], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var client = 0, oneEvent = 0
        var iterator = ports.makeAsyncIterator()
        while client == 0 || oneEvent == 0, let (listener, port) = await iterator.next() {
            if listener == .client { client = port } else { oneEvent = port }
        }
        let result: Result
        do {
            result = try await body(client, oneEvent, router)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        continuation.finish()
        try await tasks.waitForAll()
        return result
    }
}


/// Runs `body`, failing with a ``TestFailure`` naming `what` if it takes more than `seconds`.
public func within<T: Sendable>(seconds: Int, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TestFailure("timed out after \(seconds) s: \(what)") }
        return value
    }
}
