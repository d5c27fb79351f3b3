import Testing

@testable import PsEPRCore

@Suite("Route table")
struct RouteTableTests {
    typealias Table = RouteTable<Int, ContinuousClock.Instant>
    let start = ContinuousClock.Instant.now

    func at(_ seconds: Int) -> ContinuousClock.Instant { start.advanced(by: .seconds(seconds)) }

    func lease(
        _ subscriber: Int,
        _ identifier: String,
        _ channel: String,
        namespace: String? = nil,
        service: String? = nil,
        instance: String? = nil,
        until seconds: Int = 100
    ) throws -> Table.Lease {
        Table.Lease(
            subscriber: subscriber,
            identifier: identifier,
            channel: try ChannelName(channel),
            namespaceFilter: namespace,
            service: service,
            instance: instance,
            expires: at(seconds)
        )
    }

    func deliver(
        _ table: Table,
        _ channel: String,
        namespace: String? = "urn:x",
        toService: String? = nil,
        toInstance: String? = nil,
        at seconds: Int = 0
    ) throws -> Set<Int> {
        Set(
            table.subscribers(
                for: try ChannelName(channel),
                namespace: namespace,
                toService: toService,
                toInstance: toInstance,
                now: at(seconds)
            )
        )
    }

    @Test func hierarchicalDelivery() throws {
        var table = Table()
        table.upsert(try lease(1, "a", "/a/b/"))
        table.upsert(try lease(2, "a", "/a/bc/"))
        table.upsert(try lease(3, "a", "/"))
        table.upsert(try lease(4, "a", "/a/b/c/d/"))
        #expect(try deliver(table, "/a/b/") == [1, 3])
        #expect(try deliver(table, "/a/b/c/") == [1, 3])
        #expect(try deliver(table, "/a/") == [3])
        #expect(try deliver(table, "/a/bc/x/") == [2, 3])
        #expect(try deliver(table, "/a/b/c/d/e/") == [1, 3, 4])
    }

    @Test func namespaceFilter() throws {
        var table = Table()
        table.upsert(try lease(1, "a", "/n/", namespace: "urn:X"))
        table.upsert(try lease(2, "a", "/n/"))
        #expect(try deliver(table, "/n/", namespace: "urn:x") == [1, 2])
        #expect(try deliver(table, "/n/", namespace: "urn:y") == [2])
        #expect(try deliver(table, "/n/", namespace: nil) == [2])
    }

    @Test func toServiceAndInstanceFilters() throws {
        var table = Table()
        table.upsert(try lease(1, "a", "/s/", service: "Alpha", instance: "one"))
        table.upsert(try lease(2, "a", "/s/", service: "alpha", instance: "two"))
        table.upsert(try lease(3, "a", "/s/", service: "beta"))
        #expect(try deliver(table, "/s/") == [1, 2, 3])
        #expect(try deliver(table, "/s/", toService: "ALPHA") == [1, 2])
        #expect(try deliver(table, "/s/", toService: "alpha", toInstance: "two") == [2])
        #expect(try deliver(table, "/s/", toService: "gamma").isEmpty)
    }

    @Test func atMostOncePerSubscriber() throws {
        var table = Table()
        table.upsert(try lease(1, "a", "/x/"))
        table.upsert(try lease(1, "b", "/x/y/"))
        table.upsert(try lease(1, "c", "/"))
        let found = table.subscribers(for: try ChannelName("/x/y/z/"), namespace: nil, now: at(0))
        #expect(found == [1])
    }

    @Test func subscribersWithSeveralLeasesAmongManyComeOnceEach() throws {
        var table = Table()
        for subscriber in 0..<40 {
            try table.upsert(lease(subscriber, "top", "/m/"))
            if subscriber.isMultiple(of: 2) { try table.upsert(lease(subscriber, "deep", "/m/n/")) }
        }
        let found = table.subscribers(for: try ChannelName("/m/n/o/"), namespace: nil, now: at(0))
        #expect(found.count == 40)
        #expect(Set(found).count == 40)
        // Once back to one lease each, nothing is repeated either.
        for subscriber in stride(from: 0, to: 40, by: 2) { table.remove(subscriber: subscriber, identifier: "top") }
        let after = table.subscribers(for: try ChannelName("/m/n/o/"), namespace: nil, now: at(0))
        #expect(after.count == 40 && Set(after).count == 40)
    }

    @Test func expiryRenewalAndRemoval() throws {
        var table = Table()
        table.upsert(try lease(1, "a", "/e/", until: 10))
        table.upsert(try lease(2, "a", "/e/", until: 20))
        #expect(try deliver(table, "/e/", at: 5) == [1, 2])
        #expect(try deliver(table, "/e/", at: 10) == [2])
        // Renewal with the same identifier moves the expiry, and may move the channel.
        table.upsert(try lease(1, "a", "/e/", until: 30))
        #expect(try deliver(table, "/e/", at: 25) == [1])
        table.upsert(try lease(1, "a", "/f/", until: 30))
        #expect(try deliver(table, "/e/", at: 0) == [2])
        #expect(table.count == 2)
        #expect(table.removeExpired(now: at(20)).map(\.subscriber) == [2])
        #expect(table.count == 1)
        #expect(table.remove(subscriber: 1, identifier: "a")?.channel.rawValue == "/f/")
        #expect(table.remove(subscriber: 1, identifier: "a") == nil)
        #expect(table.count == 0 && table.leases.isEmpty)
    }

    @Test func aClosedConnectionLosesEveryLease() throws {
        var table = Table()
        for index in 0..<10 { table.upsert(try lease(7, "l\(index)", "/c/\(index)/")) }
        table.upsert(try lease(8, "l0", "/c/0/"))
        #expect(table.leases(of: 7).count == 10)
        #expect(table.removeAll(subscriber: 7).count == 10)
        #expect(table.count == 1)
        #expect(try deliver(table, "/c/0/") == [8])
    }
}
