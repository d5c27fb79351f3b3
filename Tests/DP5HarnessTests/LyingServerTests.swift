import Crypto
import DP5Core
import DP5Harness
import DP5Testing
import Testing

/// A deployment in which lookup server `liar` alters what it sends, in one of several ways.
struct LyingDeployment: DP5Deployment {
    enum Lie: Sendable, CaseIterable {
        /// Metadata claiming an empty database (bucket size 0): every buddy would look offline.
        case emptyMetadata
        /// A data file of zeros (every bucket empty: every buddy offline), claiming the true
        /// file's digest.
        case dataFile
        /// A data file of zeros, claiming that file's own digest.
        case dataFileAndDigest
        /// PIR answers with the first byte of every record's place flipped.
        case pirAnswer
    }

    let honest: InProcessDeployment
    let liar: Int
    let lie: Lie

    var numberOfLookupServers: Int { honest.numberOfLookupServers }
    func currentEpoch() async throws -> Epoch { await honest.currentEpoch() }
    func register(_ message: [UInt8], currentEpoch: Epoch) async throws -> [UInt8] {
        try await honest.register(message, currentEpoch: currentEpoch)
    }
    func fastForward() async throws -> (old: Epoch, new: Epoch) { try await honest.fastForward() }
    func allowsFastForward() async throws -> Bool? { true }

    func lookup(_ body: [UInt8], epoch: Epoch, server: Int, limit: Int) async throws -> [UInt8] {
        var reply = await honest.lookup(body, epoch: epoch, server: server, limit: limit)
        guard server == liar else { return reply }
        let recordSize = DP5Configuration.default.recordSize
        switch (lie, body.first ?? 0) {
        case (.emptyMetadata, LookupRequest.metadataOpcode):
            var metadata = try Metadata(rawRepresentation: reply)
            metadata.bucketSize = 0
            reply = metadata.rawRepresentation
        case (.dataFile, LookupRequest.downloadOpcode), (.dataFileAndDigest, LookupRequest.downloadOpcode):
            reply = Array(reply.prefix(5)) + [UInt8](repeating: 0, count: reply.count - 5)
        case (.pirAnswer, LookupRequest.pirOpcode):
            for index in stride(from: 5, to: reply.count, by: recordSize) { reply[index] ^= 0x40 }
        case (.dataFileAndDigest, LookupRequest.digestOpcode):
            let file = await honest.lookup(
                LookupRequest.download(epoch).rawRepresentation,
                epoch: epoch,
                server: server,
                limit: .max
            )
            reply = Array(reply.prefix(5)) + Array(SHA256.hash(data: [UInt8](repeating: 0, count: file.count - 5)))
        default:
            break
        }
        return reply
    }
}

@Suite("Lying lookup servers are named, never believed")
struct LyingServerTests {
    /// Users with many buddies in a small database (lookups download it) and users with one
    /// buddy (lookups of one bucket, by PIR).
    func population() -> [SimulatedUser] {
        var generator = SystemRandomNumberGenerator()
        var users = UserPopulation.generate(count: 12, maximumBuddies: 4, using: &generator)
        users += UserPopulation.generate(count: 6, maximumBuddies: 1, using: &generator).map {
            SimulatedUser(privateKey: $0.privateKey, buddies: [users[0].privateKey.publicKey])
        }
        return users
    }

    func run(lie: LyingDeployment.Lie, servers: Int, t: Int, liar: Int) async throws -> LookupTally {
        let configuration = DP5Configuration.default
        let honest = InProcessDeployment(
            configuration: configuration,
            numberOfLookupServers: servers,
            clock: ManualEpochClock()
        )
        let deployment = LyingDeployment(honest: honest, liar: liar, lie: lie)
        let harness = Harness(
            configuration: configuration,
            parameters: try LookupParameters(numberOfServers: servers, privacyLevel: t),
            concurrency: 4
        )
        let users = population()
        _ = try await harness.registerAll(users, on: deployment)
        let (_, epoch) = try await deployment.fastForward()
        return try await harness.lookUp(users, registered: users, epoch: epoch, on: deployment)
    }

    @Test(arguments: LyingDeployment.Lie.allCases, [(servers: 3, t: 1), (servers: 4, t: 1), (servers: 4, t: 2)])
    func aLiarAmongEnoughServersIsNamed(lie: LyingDeployment.Lie, shape: (servers: Int, t: Int)) async throws {
        let liar = shape.servers - 1
        let tally = try await run(lie: lie, servers: shape.servers, t: shape.t, liar: liar)
        #expect(tally.wrong == 0, "\(tally)")
        // Only the liar is ever named; a liar whose claim is true is named once its file is fetched.
        if lie == .dataFile {
            #expect(Set(tally.faultyServers.keys).isSubset(of: [liar]), "\(tally)")
        } else {
            #expect(Set(tally.faultyServers.keys) == [liar], "\(tally)")
        }
        switch lie {
        case .emptyMetadata:
            // Disagreeing metadata stops every lookup, naming the odd one out.
            #expect(tally.failed == tally.faultyServers[liar], "\(tally)")
        case .dataFile, .dataFileAndDigest:
            #expect(tally.downloadLookups > 0 && tally.failed == 0, "\(tally)")
        case .pirAnswer:
            #expect(tally.pirLookups > 0 && tally.failed == 0, "\(tally)")
        }
    }

    @Test(arguments: LyingDeployment.Lie.allCases)
    func aLiarAmongTwoServersIsNeverBelieved(lie: LyingDeployment.Lie) async throws {
        let tally = try await run(lie: lie, servers: 2, t: 1, liar: 1)
        #expect(tally.wrong == 0, "\(tally)")
        #expect(tally.failed > 0 || lie == .dataFile, "\(tally)")
    }

    @Test func honestServersAreConfirmed() async throws {
        let configuration = DP5Configuration.default
        let deployment = InProcessDeployment(
            configuration: configuration,
            numberOfLookupServers: 3,
            clock: ManualEpochClock()
        )
        let harness = Harness(
            configuration: configuration,
            parameters: try LookupParameters(numberOfServers: 3, privacyLevel: 1),
            concurrency: 4
        )
        let users = population()
        _ = try await harness.registerAll(users, on: deployment)
        let (_, epoch) = try await deployment.fastForward()
        let tally = try await harness.lookUp(users, registered: users, epoch: epoch, on: deployment)
        #expect(
            tally.wrong == 0 && tally.failed == 0 && tally.unverified == 0 && tally.faultyServers.isEmpty,
            "\(tally)"
        )
        #expect(tally.pirLookups > 0 && tally.downloadLookups > 0, "\(tally)")
        #expect(tally.latencies.count == users.count)

        // With t + 1 = 2 servers nothing confirms a PIR answer, and the tally says so.
        let two = InProcessDeployment(configuration: configuration, numberOfLookupServers: 2, clock: ManualEpochClock())
        let pairHarness = Harness(
            configuration: configuration,
            parameters: try LookupParameters(numberOfServers: 2, privacyLevel: 1),
            concurrency: 4
        )
        _ = try await pairHarness.registerAll(users, on: two)
        let (_, pairEpoch) = try await two.fastForward()
        let pair = try await pairHarness.lookUp(users, registered: users, epoch: pairEpoch, on: two)
        #expect(pair.wrong == 0 && pair.unverified == pair.pirLookups, "\(pair)")
    }
}
