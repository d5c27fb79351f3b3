import Foundation
import PsEPRCore
import PsEPRServer

/// The route table alone: lookups per second with many leases over a deep channel tree, against
/// a flat dictionary of exact channel names measured in the same run (the cost of one hash
/// lookup per event, with no hierarchy).
struct RouteTableBench {
    let leaseCounts: [Int]
    let lookups: Int
    let json: Bool

    struct Result: Codable {
        var benchmark = "route-table"
        var leases: Int
        var lookups: Int
        var lookupsPerSecond: Double
        var matchesPerLookup: Double
        var flatDictionaryLookupsPerSecond: Double
        var flatMatchesPerLookup: Double
        var ratioToFlatDictionary: Double
    }

    func run() throws {
        var generator = SplitMix64(seed: 0x5053_4550_5221)
        for leaseCount in leaseCounts {
            // Leases on channels 3–6 levels deep under /bench/, sixteen children per level, so
            // leases sit at several levels of each event's path (a deep tree with prefix overlap).
            let now = ContinuousClock.now
            var table = RouteTable<Int, ContinuousClock.Instant>()
            var flat: [String: [Int]] = [:]
            for number in 0..<leaseCount {
                let depth = Int.random(in: 3...6, using: &generator)
                let channel = try Self.channel(depth: depth, using: &generator)
                table.upsert(.init(subscriber: number, identifier: "l\(number)", channel: channel, expires: now + .seconds(3600)))
                flat[channel.rawValue, default: []].append(number)
            }
            // Events go to channels 6–8 levels deep.
            let events = try (0..<4096).map { _ in try Self.channel(depth: Int.random(in: 6...8, using: &generator), using: &generator) }
            var found: [Int] = []
            var matches = 0
            let started = ContinuousClock.now
            for index in 0..<lookups {
                found.removeAll(keepingCapacity: true)
                table.collectSubscribers(for: events[index & 4095], namespace: "urn:x", now: now, into: &found)
                matches += found.count
            }
            let elapsed = ContinuousClock.now - started
            var flatHits = 0
            let flatStarted = ContinuousClock.now
            for index in 0..<lookups {
                flatHits &+= flat[events[index & 4095].rawValue]?.count ?? 0
            }
            let flatElapsed = ContinuousClock.now - flatStarted
            let perSecond = Double(lookups) / Self.seconds(elapsed)
            let flatPerSecond = Double(lookups) / Self.seconds(flatElapsed)
            let result = Result(
                leases: leaseCount, lookups: lookups, lookupsPerSecond: perSecond, matchesPerLookup: Double(matches) / Double(lookups),
                flatDictionaryLookupsPerSecond: flatPerSecond, flatMatchesPerLookup: Double(flatHits) / Double(lookups),
                ratioToFlatDictionary: perSecond / flatPerSecond
            )
            if json {
                printJSONLine(result)
            } else {
                print(String(
                    format: "route table, %6d leases: %10.0f lookups/s (%.2f matches each); flat exact-name dictionary %10.0f/s (%.2f); ratio %.2f",
                    leaseCount, perSecond, result.matchesPerLookup, flatPerSecond, result.flatMatchesPerLookup, result.ratioToFlatDictionary
                ))
            }
        }
    }

    static func channel(depth: Int, using generator: inout SplitMix64) throws -> ChannelName {
        var name = "/bench/"
        for _ in 0..<depth { name += "n\(Int.random(in: 0..<16, using: &generator))/" }
        return try ChannelName(name)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
