import PsEPRTesting
import ServerOperations
import Synchronization
import Testing

/// The one periodic loop both servers run their timers in, on a clock moved by hand.
@Suite struct PeriodicTests {
    @Test func eachRoundWaitsForItsPauseOnTheInjectedClock() async throws {
        let clock = ManualClock()
        let rounds = Mutex(0)
        let (ticks, tick) = AsyncStream.makeStream(of: Int.self)
        let pauses = Mutex<[Duration]>([.seconds(5), .seconds(1), .seconds(60)])
        let loop = Task {
            await repeatWithPauses(on: clock, pause: { pauses.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] } }) {
                tick.yield(
                    rounds.withLock {
                        $0 += 1
                        return $0
                    }
                )
            }
        }
        var iterator = ticks.makeAsyncIterator()
        await clock.waitForSleepers()
        clock.advance(by: .seconds(4))
        #expect(rounds.withLock { $0 } == 0, "the first pause is 5 s")
        clock.advance(by: .seconds(1))
        #expect(await iterator.next() == 1)
        // The pause is asked again each round: 1 s now.
        await clock.waitForSleepers()
        clock.advance(by: .seconds(1))
        #expect(await iterator.next() == 2)
        await clock.waitForSleepers()
        loop.cancel()
        await loop.value
        #expect(rounds.withLock { $0 } == 2, "cancellation ends the loop without another round")
        #expect(clock.sleeperCount == 0)
    }
}
