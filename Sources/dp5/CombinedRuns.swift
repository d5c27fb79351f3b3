import DP5Client
import DP5Core
import DP5Harness
import Foundation
import Synchronization

/// Which users are online in a combined epoch: all but every fifth, so every run also checks
/// that users who did not register come out offline.
func isOnlineInCombinedEpoch(_ index: Int, round: Int = 0) -> Bool { (index + round) % 5 != 4 }

/// `dp5 client` and `dp5 demo --combined`: a combined deployment alone. Users register their
/// presence (all but every fifth), the epoch is fast-forwarded, and lookers look their buddies
/// up by the BLS public keys the users file gives.
struct CombinedHarnessRun<Deployment: DP5Deployment> {
    let configuration: DP5Configuration
    let parameters: LookupParameters
    let concurrency: Int
    let deployment: Deployment
    let lookupServers: [String]

    /// - Returns: whether every answer was right and every lookup succeeded.
    func run(users: [SimulatedUser], lookers: [SimulatedUser]) async throws -> Bool {
        let blsKeys = try users.map { user -> BLSPrivateKey in
            guard let key = user.blsPrivateKey else {
                throw CommandError(
                    "the users file has no BLS keys (made before combined mode); make a new one with `dp5 users`"
                )
            }
            return key
        }
        let byDHKey = Dictionary(
            zip(users.map(\.privateKey.publicKey), blsKeys.map(\.publicKey)),
            uniquingKeysWith: { first, _ in first }
        )
        if try await deployment.allowsFastForward() == false {
            throw CommandError(
                "the registration server refuses to fast-forward: add \"allowDebugFastForward\": true to its configuration file and restart it. Nobody was registered."
            )
        }
        let harness = CombinedHarness(configuration: configuration, parameters: parameters, concurrency: concurrency)
        let online = blsKeys.indices.filter { isOnlineInCombinedEpoch($0) }.map { blsKeys[$0] }
        let clock = ContinuousClock()
        print("Registering \(online.count) of \(users.count) users (combined mode)...")
        let registrationStart = clock.now
        _ = try await harness.registerAll(online, on: deployment, progress: Progress.printer(label: "registered"))
        Progress.finish()
        print(Timing.done(elapsed: registrationStart.duration(to: clock.now), count: online.count))
        let (old, new) = try await deployment.fastForward()
        print("Old: \(old) New: \(new)")
        print("Looking up")
        let lookupStart = clock.now
        let tally = try await harness.lookUp(
            lookers.map { CombinedHarness.Looker(buddies: $0.buddies.compactMap { byDHKey[$0] }) },
            registered: Set(online.map(\.publicKey)),
            epoch: new,
            on: deployment,
            progress: Progress.printer(label: "looked up")
        )
        Progress.finish()
        print(Timing.done(elapsed: lookupStart.duration(to: clock.now), count: lookers.count))
        return report(tally, lookupServers: lookupServers)
    }
}

/// `dp5 client --two-level` and `dp5 demo --two-level`: a standard deployment (long epochs)
/// carries every user's BLS public key to their buddies; a combined deployment (short epochs)
/// then answers who is online now, for two short epochs with different users online.
struct TwoLevelRun<Standard: DP5Deployment, Combined: DP5Deployment> {
    let standardConfiguration: DP5Configuration
    let standardParameters: LookupParameters
    let standard: Standard
    let combinedConfiguration: DP5Configuration
    let combinedParameters: LookupParameters
    let combined: Combined
    let concurrency: Int
    let lookupServers: [String]

    func run(users: [SimulatedUser], lookers: [SimulatedUser]) async throws -> Bool {
        let blsKeys = try users.map { user -> BLSPrivateKey in
            guard let key = user.blsPrivateKey else {
                throw CommandError(
                    "the users file has no BLS keys (made before combined mode); make a new one with `dp5 users`"
                )
            }
            return key
        }
        let byDHKey = Dictionary(
            zip(users.map(\.privateKey.publicKey), blsKeys.map(\.publicKey)),
            uniquingKeysWith: { first, _ in first }
        )
        let clock = ContinuousClock()

        // Level 1: the standard epoch, whose records carry BLS public keys.
        var keyDistribution = Harness(
            configuration: standardConfiguration,
            parameters: standardParameters,
            concurrency: concurrency
        )
        keyDistribution.data = { registrant, _, size in UserPopulation.keyAnnouncement(byDHKey[registrant]!, size: size)
        }
        print("Standard epoch: registering \(users.count) users, each telling their buddies their BLS public key...")
        var start = clock.now
        _ = try await keyDistribution.registerAll(users, on: standard, progress: Progress.printer(label: "registered"))
        Progress.finish()
        print(Timing.done(elapsed: start.duration(to: clock.now), count: users.count))
        let (oldStandard, newStandard) = try await standard.fastForward()
        print("Standard Old: \(oldStandard) New: \(newStandard)")
        let learned = Mutex<[DHPublicKey: [BLSPublicKey]]>([:])
        start = clock.now
        let standardTally = try await keyDistribution.lookUp(
            lookers,
            registered: users,
            epoch: newStandard,
            on: standard,
            progress: Progress.printer(label: "looked up")
        ) { looker, result in
            let keys = result.presences.compactMap { presence in
                presence.data.flatMap {
                    try? BLSPublicKey(rawRepresentation: $0.prefix(CombinedParameters.publicKeyBytes))
                }
            }
            learned.withLock { $0[looker.privateKey.publicKey] = keys }
        }
        Progress.finish()
        print(Timing.done(elapsed: start.duration(to: clock.now), count: lookers.count))
        print(
            "Standard lookups: \(standardTally.pirLookups) by PIR, \(standardTally.downloadLookups) by download; \(standardTally.online) BLS keys learned"
        )
        var passed = report(standardTally, lookupServers: lookupServers, label: "Wrong key-distribution answers")

        // Level 2: short combined epochs, each looked up with the keys learned above.
        let presence = CombinedHarness(
            configuration: combinedConfiguration,
            parameters: combinedParameters,
            concurrency: concurrency
        )
        let keysByLooker = learned.withLock { $0 }
        for round in 0..<2 {
            let online = blsKeys.indices.filter { isOnlineInCombinedEpoch($0, round: round) }.map { blsKeys[$0] }
            print("Combined epoch \(round + 1): registering \(online.count) of \(users.count) users...")
            start = clock.now
            _ = try await presence.registerAll(online, on: combined, progress: Progress.printer(label: "registered"))
            Progress.finish()
            print(Timing.done(elapsed: start.duration(to: clock.now), count: online.count))
            let (old, new) = try await combined.fastForward()
            print("Combined Old: \(old) New: \(new)")
            start = clock.now
            let tally = try await presence.lookUp(
                lookers.map { CombinedHarness.Looker(buddies: keysByLooker[$0.privateKey.publicKey] ?? []) },
                registered: Set(online.map(\.publicKey)),
                epoch: new,
                on: combined,
                progress: Progress.printer(label: "looked up")
            )
            Progress.finish()
            print(Timing.done(elapsed: start.duration(to: clock.now), count: lookers.count))
            passed = report(tally, lookupServers: lookupServers) && passed
        }
        return passed
    }
}

/// Prints a tally's summary lines; returns whether it has no wrong answers and no failed lookups.
func report(_ tally: LookupTally, lookupServers: [String], label: String = "Wrong answers") -> Bool {
    if let p50 = tally.latencyPercentile(0.5), let p95 = tally.latencyPercentile(0.95),
        let p99 = tally.latencyPercentile(0.99)
    {
        print(
            "Lookup latency per user: p50 \(Timing.milliseconds(p50)), p95 \(Timing.milliseconds(p95)), p99 \(Timing.milliseconds(p99))"
        )
    }
    print(
        "Lookups: \(tally.pirLookups) by PIR, \(tally.downloadLookups) by download; \(tally.online) of \(tally.answers) buddies online"
    )
    for (server, count) in tally.faultyServers.sorted(by: { $0.key < $1.key }) {
        let name = lookupServers.indices.contains(server) ? lookupServers[server] : "#\(server)"
        print("Lying or broken lookup server: \(name) (named by \(count) lookups)")
    }
    if tally.failed > 0 {
        print("Failed lookups: \(tally.failed)")
        for (reason, count) in tally.failures.sorted(by: { $0.value > $1.value }).prefix(5) {
            print("  \(count) × \(reason)")
        }
    }
    print("\(label): \(tally.wrong)")
    return tally.wrong == 0 && tally.failed == 0
}
