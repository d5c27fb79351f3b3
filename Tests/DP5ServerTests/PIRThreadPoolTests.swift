import DP5Core
import Foundation
import Synchronization
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

    /// A pass's parts, more of them than threads: each runs once, and the task is resumed once,
    /// with every part's result folded in.
    @Test func partsAreFoldedIntoOneResult() async {
        let pool = PIRThreadPool(threads: 3)
        let ran = Mutex(0)
        let sum = await pool.run(parts: 7) {
            ran.withLock { $0 += 1 }
            return [1, 2]
        } fold: { sum, part in
            if sum.isEmpty { sum = part } else { sum = zip(sum, part).map { $0 + $1 } }
        }
        #expect(sum == [7, 14])
        #expect(ran.withLock { $0 } == 7)
        await pool.shutdown()
        // Stopped: the parts run where they are asked for, and still fold.
        #expect(await pool.run(parts: 2, { [3] }, fold: { $0 = $0.isEmpty ? $1 : [$0[0] + $1[0]] }) == [6])
    }

    /// A server's engine, its parts on the pool's threads, answers as one pass on one thread does.
    @Test func passesOnThePoolEqualSinglePasses() async throws {
        let database = try PIRDatabase(
            numberOfBlocks: 300,
            blockSize: 84,
            bytes: Data((0..<(300 * 84)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        )
        let batches = [2, 1, 17].map { queries in
            PIRQueryBatch(
                numberOfBlocks: 300,
                coefficients: (0..<(queries * 300)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ queries) }
            )
        }
        let single = PIREngine()
        let pool = PIRThreadPool(threads: 3)
        // Pieces of 8 blocks: the three parts take many each, in whatever order they run.
        let engine = PIREngine(threads: 3, workers: pool, minimumPartBytes: 0, pieceBytes: 8 * 84)
        let answers = await engine.answer(batches, database: database)
        #expect(answers == batches.map { single.answer($0, database: database) })
        await pool.shutdown()
    }
}
