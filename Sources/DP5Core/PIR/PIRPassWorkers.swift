/// Where the parts of a PIR pass run.
///
/// A pass streams the whole database: hundreds of milliseconds of one core's time on a large one.
/// Run on Swift's cooperative pool it would hold threads that HTTP handling, registrations and
/// the epoch timer need, so a server hands its passes to threads of their own (DP5Server's
/// `PIRThreadPool`); tools and tests may run them on the caller's thread.
public protocol PIRPassWorkers: Sendable {
    /// Runs `work` and returns what it produced.
    func run(_ work: @escaping @Sendable () -> [UInt8]) async -> [UInt8]

    /// Runs `parts` copies of `work` at once and returns their results folded into one by `fold`
    /// (which adds its second argument into its first).
    func run(
        parts: Int,
        _ work: @escaping @Sendable () -> [UInt8],
        fold: @escaping @Sendable (inout [UInt8], [UInt8]) -> Void
    ) async -> [UInt8]
}

extension PIRPassWorkers {
    /// Each part in a child task of its own, through ``run(_:)``.
    public func run(
        parts: Int,
        _ work: @escaping @Sendable () -> [UInt8],
        fold: @escaping @Sendable (inout [UInt8], [UInt8]) -> Void
    ) async -> [UInt8] {
        await withTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<parts { group.addTask { await self.run(work) } }
            var sum: [UInt8] = []
            for await part in group { fold(&sum, part) }
            return sum
        }
    }
}

/// Runs each part of a pass on the task that asks for it (the cooperative pool).
public struct CallerPIRWorkers: PIRPassWorkers {
    /// Creates the workers.
    public init() {}

    public func run(_ work: @escaping @Sendable () -> [UInt8]) async -> [UInt8] { work() }
}
