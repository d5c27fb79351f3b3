import DP5Core
import DP5Harness
import DP5Testing
import Testing

@Suite("The harness against an in-process deployment")
struct HarnessTests {
    @Test(arguments: [(servers: 2, t: 1), (servers: 3, t: 2), (servers: 5, t: 2)])
    func everyAnswerIsRight(servers: Int, t: Int) async throws {
        let configuration = DP5Configuration.default
        let deployment = InProcessDeployment(
            configuration: configuration,
            numberOfLookupServers: servers,
            clock: ManualEpochClock()
        )
        let harness = Harness(
            configuration: configuration,
            parameters: try LookupParameters(numberOfServers: servers, privacyLevel: t),
            concurrency: 4
        )
        var generator = SystemRandomNumberGenerator()
        // A database small enough that downloading it beats 100 PIR queries, and some users with
        // a single buddy, so lookups of one bucket (PIR) and of several (download) both happen.
        var users = UserPopulation.generate(count: 12, maximumBuddies: 3, using: &generator)
        users += UserPopulation.generate(count: 5, maximumBuddies: 1, using: &generator).map {
            SimulatedUser(privateKey: $0.privateKey, buddies: [users[0].privateKey.publicKey])
        }
        let registeredFor = try await harness.registerAll(users, on: deployment)
        #expect(registeredFor == Epoch(788_929))
        let (old, new) = try await deployment.fastForward()
        #expect(old == Epoch(788_928) && new == registeredFor)

        let tally = try await harness.lookUp(users, registered: users, epoch: new, on: deployment)
        #expect(tally.wrong == 0)
        #expect(tally.pirLookups > 0)
        #expect(tally.downloadLookups > 0, "\(tally)")
        #expect(tally.online > 0)
    }

    @Test func unregisteredUsersAreOffline() async throws {
        let configuration = DP5Configuration.default
        let deployment = InProcessDeployment(
            configuration: configuration,
            numberOfLookupServers: 2,
            clock: ManualEpochClock()
        )
        let harness = Harness(
            configuration: configuration,
            parameters: try LookupParameters(numberOfServers: 2, privacyLevel: 1),
            concurrency: 2
        )
        var generator = SystemRandomNumberGenerator()
        let users = UserPopulation.generate(count: 30, maximumBuddies: 10, using: &generator)
        let registered = Array(users.prefix(15))
        _ = try await harness.registerAll(registered, on: deployment)
        let (_, epoch) = try await deployment.fastForward()
        let tally = try await harness.lookUp(users, registered: registered, epoch: epoch, on: deployment)
        #expect(tally.wrong == 0)
    }

    @Test func emptyEpochAnswersEveryoneOffline() async throws {
        let configuration = DP5Configuration.default
        let deployment = InProcessDeployment(
            configuration: configuration,
            numberOfLookupServers: 2,
            clock: ManualEpochClock()
        )
        let harness = Harness(
            configuration: configuration,
            parameters: try LookupParameters(numberOfServers: 2, privacyLevel: 1),
            concurrency: 2
        )
        var generator = SystemRandomNumberGenerator()
        let users = UserPopulation.generate(count: 5, using: &generator)
        let (_, epoch) = try await deployment.fastForward()
        let tally = try await harness.lookUp(users, registered: [], epoch: epoch, on: deployment)
        #expect(tally.wrong == 0 && tally.online == 0 && tally.answers == 25)
    }

    @Test func mismatchedDataSizeIsReportedAsSuch() async throws {
        let deployment = InProcessDeployment(
            configuration: .default,
            numberOfLookupServers: 2,
            clock: ManualEpochClock()
        )
        let other = try DP5Configuration(dataEncSize: 48)
        let harness = Harness(
            configuration: other,
            parameters: try LookupParameters(numberOfServers: 2, privacyLevel: 1),
            concurrency: 1
        )
        var generator = SystemRandomNumberGenerator()
        let users = UserPopulation.generate(count: 2, using: &generator)
        let (_, epoch) = try await deployment.fastForward()
        await #expect(throws: DP5Error.self) {
            try await harness.lookUp(users, registered: [], epoch: epoch, on: deployment)
        }
    }

    @Test func registrationsFromAnotherEpochAreRefused() async throws {
        let deployment = InProcessDeployment(
            configuration: .default,
            numberOfLookupServers: 2,
            clock: ManualEpochClock()
        )
        let current = await deployment.currentEpoch()
        await #expect(throws: DeploymentRefusal.self) {
            try await deployment.register(current.next.next.wireBytes, currentEpoch: current.next)
        }
        #expect(
            try await deployment.register(current.next.wireBytes, currentEpoch: current) == [0] + current.next.wireBytes
        )
    }

    @Test func presenceDataIsCentredAndSized() throws {
        let a = try DHPublicKey(rawRepresentation: [0xAB, 0xCD, 0xEF] + [UInt8](repeating: 0, count: 29))
        let b = try DHPublicKey(rawRepresentation: [0x01, 0x02, 0x03] + [UInt8](repeating: 0, count: 29))
        #expect(UserPopulation.presenceData(registrant: a, buddy: b, size: 16) == Array(" abcdef->010203 ".utf8))
        #expect(UserPopulation.presenceData(registrant: a, buddy: b, size: 4) == Array("abcd".utf8))
    }
}
