import DP5Core
import DP5Harness
import DP5Testing
import Synchronization
import Testing

/// The two-level client's flow against in-process deployments: a standard epoch carries BLS
/// public keys to buddies, and combined epochs looked up with the learned keys say who is online.
@Suite("Two-level and combined harness runs")
struct TwoLevelTests {
    @Test func keysLearnedInAStandardEpochFindWhoIsOnlineInCombinedEpochs() async throws {
        let standardConfiguration = try DP5Configuration(epochLength: 86_400, dataEncSize: 64)
        let combinedConfiguration = try DP5Configuration(epochLength: 300, dataEncSize: 32, combined: true)
        let parameters = try LookupParameters(numberOfServers: 3, privacyLevel: 1)
        let standard = InProcessDeployment(
            configuration: standardConfiguration,
            numberOfLookupServers: 3,
            clock: ManualEpochClock()
        )
        let combined = InProcessDeployment(
            configuration: combinedConfiguration,
            numberOfLookupServers: 3,
            clock: ManualEpochClock()
        )
        var generator = SystemRandomNumberGenerator()
        let users = UserPopulation.generate(count: 16, maximumBuddies: 6, using: &generator)
        let blsKeys = Dictionary(
            uniqueKeysWithValues: users.map { ($0.privateKey.publicKey, $0.blsPrivateKey!.publicKey) }
        )

        var keyDistribution = Harness(configuration: standardConfiguration, parameters: parameters, concurrency: 4)
        keyDistribution.data = { registrant, _, size in UserPopulation.keyAnnouncement(blsKeys[registrant]!, size: size)
        }
        _ = try await keyDistribution.registerAll(users, on: standard)
        let standardEpoch = try await standard.fastForward().new
        let learned = Mutex<[DHPublicKey: [BLSPublicKey]]>([:])
        let standardTally = try await keyDistribution.lookUp(
            users,
            registered: users,
            epoch: standardEpoch,
            on: standard,
            observe: { looker, result in
                let keys = result.presences.compactMap {
                    $0.data.flatMap { try? BLSPublicKey(rawRepresentation: $0.prefix(48)) }
                }
                learned.withLock { $0[looker.privateKey.publicKey] = keys }
            }
        )
        #expect(standardTally.wrong == 0 && standardTally.failed == 0)
        #expect(standardTally.online > 0)
        let keysByLooker = learned.withLock { $0 }
        // Every key learned is the buddy's real key.
        for user in users {
            for key in keysByLooker[user.privateKey.publicKey] ?? [] {
                #expect(user.buddies.contains { blsKeys[$0] == key })
            }
        }

        let presence = CombinedHarness(configuration: combinedConfiguration, parameters: parameters, concurrency: 4)
        for round in 0..<2 {
            let online = users.enumerated().filter { ($0.offset + round) % 4 != 0 }.map { $0.element.blsPrivateKey! }
            _ = try await presence.registerAll(online, on: combined)
            let epoch = try await combined.fastForward().new
            let tally = try await presence.lookUp(
                users.map { CombinedHarness.Looker(buddies: keysByLooker[$0.privateKey.publicKey] ?? []) },
                registered: Set(online.map(\.publicKey)),
                epoch: epoch,
                on: combined
            )
            #expect(tally.wrong == 0 && tally.failed == 0, "\(tally)")
            #expect(tally.online > 0 && tally.online < tally.answers, "\(tally)")
        }
    }

    @Test func aCombinedRegistrationWithABadSignatureIsRefused() async throws {
        let configuration = try DP5Configuration(epochLength: 300, dataEncSize: 32, combined: true)
        let deployment = InProcessDeployment(
            configuration: configuration,
            numberOfLookupServers: 2,
            clock: ManualEpochClock()
        )
        let current = await deployment.currentEpoch()
        let reply = try await deployment.register(
            current.next.wireBytes + [0xC0] + [UInt8](repeating: 0, count: 95 + 32),
            currentEpoch: current
        )
        #expect(reply == [0x04] + current.next.wireBytes)
    }
}
