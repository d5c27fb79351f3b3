/// A wait that ran out of time.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    /// What was waited for.
    public let what: String
    /// How long.
    public let seconds: Int
    public var description: String { "timed out after \(seconds) s: \(what)" }
}

/// Runs `body`, failing with ``DeadlineExceeded`` naming `what` if it takes more than `seconds`
/// (`body` is cancelled then).
public func within<T: Sendable>(
    seconds: Int,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DeadlineExceeded(what: what, seconds: seconds)
        }
        return value
    }
}
