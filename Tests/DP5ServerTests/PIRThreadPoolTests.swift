import DP5Core
import Foundation
import Testing

@testable import DP5Server

@Suite("PIR passes on threads of their own")
struct PIRThreadPoolTests {
    /// More passes than Swift's cooperative pool has threads, each blocked until a task on that
    /// pool lets it go: were the passes holding cooperative threads, the releasing task could
    /// never run and every pass would wait out its bound instead.
    @Test func passesHoldNoCooperativeThread() async {
        let passes = ProcessInfo.processInfo.activeProcessorCount + 2
        let pool = PIRThreadPool(threads: passes)
        let gate = NSConditionLock(condition: 0)
        let started = NSConditionLock(condition: 0)
        let results = await withTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<passes {
                group.addTask {
                    await pool.run {
                        started.lock()
                        started.unlock(withCondition: started.condition + 1)
                        // Bounded, so a failure ends the test instead of hanging it.
                        guard gate.lock(whenCondition: 1, before: Date(timeIntervalSinceNow: 60)) else { return [0] }
                        gate.unlock(withCondition: 1)
                        return [1]
                    }
                }
            }
            group.addTask {
                // On the cooperative pool: waits for every pass to be under way, then lets them go.
                Self.release(gate, once: started, reaches: passes)
                return []
            }
            var results: [[UInt8]] = []
            for await result in group where !result.isEmpty { results.append(result) }
            return results
        }
        #expect(results == Array(repeating: [1], count: passes))
        await pool.shutdown()
    }

    private static func release(_ gate: NSConditionLock, once started: NSConditionLock, reaches count: Int) {
        if started.lock(whenCondition: count, before: Date(timeIntervalSinceNow: 60)) { started.unlock() }
        gate.lock()
        gate.unlock(withCondition: 1)
    }

    @Test func aStoppedPoolStillAnswers() async {
        let pool = PIRThreadPool(threads: 1)
        #expect(await pool.run { [7] } == [7])
        await pool.shutdown()
        #expect(await pool.run { [8] } == [8])
    }
}
