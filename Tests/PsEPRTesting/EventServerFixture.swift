import Logging
import PsEPRLoadGenerator
public import PsEPRServer

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
    clock: any Clock<Duration> = ContinuousClock(),
    _ body: (_ clientPort: Int, _ oneEventPort: Int, _ router: EventRouter) async throws -> Result
) async throws -> Result {
    var configuration = EventServerConfiguration.loopback(serverName: "test.psepr")
    configure(&configuration)
    return try await EventServer.withRunning(
        configuration: configuration,
        router: router,
        clock: clock,
        logger: Logger(label: "psepr.test")
    ) { client, oneEvent in
        try await body(client, oneEvent, router)
    }
}

/// Waits until `condition` holds, checking every few milliseconds, failing with a
/// ``TestFailure`` naming `what` after `seconds`. For state changed by a server's own tasks,
/// which announce nothing a test could wait on.
public func eventually(seconds: Int = 10, _ what: String, _ condition: @escaping @Sendable () -> Bool) async throws {
    try await within(seconds: seconds, what) {
        while !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }
}
