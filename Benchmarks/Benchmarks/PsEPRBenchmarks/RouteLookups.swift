import PsEPRCore

/// A route table with leases on channels 3–6 levels deep under `/bench/` (sixteen children per
/// level, so leases sit at several levels of each event's path), and 4,096 event channels 6–8
/// levels deep; beside it, the same leases in a dictionary by exact channel name.
struct RouteLookups: Sendable {
    let table: RouteTable<Int, ContinuousClock.Instant>
    let flat: [String: [Int]]
    let events: [ChannelName]
    let now = ContinuousClock.now

    init(leases: Int) {
        var generator = SplitMix64(seed: 0x5053_4550_5221)
        var table = RouteTable<Int, ContinuousClock.Instant>()
        var flat: [String: [Int]] = [:]
        for number in 0..<leases {
            let channel = Self.channel(depth: Int.random(in: 3...6, using: &generator), using: &generator)
            table.upsert(
                .init(subscriber: number, identifier: "l\(number)", channel: channel, expires: now + .seconds(3600))
            )
            flat[channel.rawValue, default: []].append(number)
        }
        self.table = table
        self.flat = flat
        events = (0..<4096).map { _ in Self.channel(depth: Int.random(in: 6...8, using: &generator), using: &generator)
        }
    }

    func lookup(_ index: Int) -> Int {
        var found: [Int] = []
        table.collectSubscribers(for: events[index & 4095], namespace: "urn:x", now: now, into: &found)
        return found.count
    }

    func flatLookup(_ index: Int) -> Int { flat[events[index & 4095].rawValue]?.count ?? 0 }

    static func channel(depth: Int, using generator: inout SplitMix64) -> ChannelName {
        var name = "/bench/"
        for _ in 0..<depth { name += "n\(Int.random(in: 0..<16, using: &generator))/" }
        // Letters, digits and slashes only: always a valid name.
        return try! ChannelName(name)
    }
}
