public import DP5Core
import NIOPosix

/// The threads a lookup server's PIR passes run on: `pirThreads` of them, started with the
/// server and stopped after it.
///
/// A pass is long, uninterrupted work: on Swift's cooperative pool (one thread per core) it would
/// hold the threads that serve HTTP, registrations and the epoch timer, and a burst of lookups
/// would stall them all. On threads of their own the passes share the cores with request handling
/// under the kernel's scheduler, which preempts them; the task that asked for a pass waits
/// suspended, holding no thread.
public final class PIRThreadPool: PIRPassWorkers {
    private let pool: NIOThreadPool

    /// Creates and starts `threads` threads.
    public init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    public func run(_ work: @escaping @Sendable () -> [UInt8]) async -> [UInt8] {
        do {
            return try await pool.runIfActive(work)
        } catch {
            // Stopped (the server is shutting down): the last passes run where they were asked for.
            return work()
        }
    }

    /// Each part handed to a thread at once, and the waiting task resumed once, by the part that
    /// finishes last (with the sum): no child task per part, whose start and end would each wake a
    /// thread of the cooperative pool.
    public func run(
        parts: Int,
        _ work: @escaping @Sendable () -> [UInt8],
        fold: @escaping @Sendable (inout [UInt8], [UInt8]) -> Void
    ) async -> [UInt8] {
        let pool = self.pool
        return await withCheckedContinuation { continuation in
            let results = PIRPartFold(parts: parts, fold: fold, continuation: continuation)
            for _ in 0..<max(1, parts) {
                // A stopped pool (the server is shutting down) runs the item at once, here.
                pool.submit { _ in results.deliver(work()) }
            }
        }
    }

    /// Stops the threads once the work handed to them is done.
    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
