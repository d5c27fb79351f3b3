/// Where the parts of a PIR pass run.
///
/// A pass streams the whole database: hundreds of milliseconds of one core's time on a large one.
/// Run on Swift's cooperative pool it would hold threads that HTTP handling, registrations and
/// the epoch timer need, so a server hands its passes to threads of their own (DP5Server's
/// `PIRThreadPool`); tools and tests may run them on the caller's thread.
public protocol PIRPassWorkers: Sendable {
    /// Runs `work` and returns what it produced.
    func run(_ work: @escaping @Sendable () -> [UInt8]) async -> [UInt8]
}

/// Runs each part of a pass on the task that asks for it (the cooperative pool).
public struct CallerPIRWorkers: PIRPassWorkers {
    /// Creates the workers.
    public init() {}

    public func run(_ work: @escaping @Sendable () -> [UInt8]) async -> [UInt8] { work() }
}
