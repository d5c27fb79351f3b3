import PsEPRLoadGenerator
import Testing

@Suite struct WatchedValueTests {
    @Test func aWaiterWakesWhenAnUpdateMeetsItsConditionAndNotBefore() async {
        let count = WatchedValue(0)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await count.wait { $0 >= 3 } }
            for _ in 0..<3 { count.update { $0 += 1 } }
            await group.waitForAll()
        }
        #expect(count.read { $0 } == 3)
        // Met already: returns at once.
        await count.wait { $0 == 3 }
    }

    @Test func aCancelledWaiterReturns() async {
        let count = WatchedValue(0)
        let waiting = Task { await count.wait { $0 > 0 } }
        waiting.cancel()
        await waiting.value
        #expect(count.read { $0 } == 0)
    }

    @Test func deliveriesEndTheWaitWhenAllHaveCome() async throws {
        let tally = DeliveryTally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await tally.waitForDeliveries(5) }
            for _ in 0..<5 { tally.add(delivered: 1, sentAt: [], receivedAt: 1) }
            try await group.waitForAll()
        }
        #expect(tally.delivered == 5)
    }
}
