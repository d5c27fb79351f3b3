import ArgumentParser
import DP5Client
import DP5Core
import DP5Harness
import Foundation

/// `dp5 users N FILE`: the original's `users.py`.
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Generate N users with fresh keys and up to 100 random buddies each, for `dp5 client`."
    )

    @Argument(help: "Number of users.")
    var count: Int

    @Argument(help: "File to write (JSON; holds private keys, so it is made readable by its owner only).")
    var file: String

    func validate() throws {
        guard count > 0 else { throw ValidationError("N must be at least 1") }
    }

    func run() throws {
        var generator = SecureRandomNumberGenerator()
        try UsersFile.write(UserPopulation.generate(count: count, using: &generator), to: file)
        print("Wrote \(count) users to \(file)")
    }
}

/// `dp5 client SERVERS.cfg USERS [NUM_LOOKUPS]`: the original's `dp5client.py` harness.
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Register every user, fast-forward the registration server, look buddies up, and check every answer.",
        discussion: "The registration server must have \"allowDebugFastForward\": true."
    )

    @Argument(help: "Client configuration (servers.cfg).")
    var config: String

    @Argument(help: "Users file from `dp5 users`.")
    var users: String

    @Argument(help: "How many users look their buddies up (default: all), chosen at random.")
    var numberOfLookups: Int?

    @Option(help: "Requests in flight at once (default: 5 × CPUs, as the original).")
    var concurrency = 5 * ProcessInfo.processInfo.activeProcessorCount

    func run() async throws {
        let configuration = try loadConfiguration(config, ClientConfiguration.init(contentsOfFile:))
        let population = try UsersFile.read(from: users)
        let lookers = numberOfLookups.map { Array(population.shuffled().prefix($0)) } ?? population
        let wrong = try await DP5HTTPClient.withClient(configuration: configuration, connectionsPerServer: concurrency) { client in
            try await HarnessRun(
                configuration: configuration.protocolConfiguration, parameters: configuration.lookupParameters,
                concurrency: concurrency, deployment: HTTPDeployment(client: client)
            ).run(users: population, lookers: lookers)
        }
        if wrong != 0 { throw ExitCode.failure }
    }
}

/// The harness run shared by `dp5 client` and `dp5 demo`, printing the original's lines.
struct HarnessRun<Deployment: DP5Deployment> {
    let configuration: DP5Configuration
    let parameters: LookupParameters
    let concurrency: Int
    let deployment: Deployment

    /// - Returns: the number of wrong answers.
    func run(users: [SimulatedUser], lookers: [SimulatedUser]) async throws -> Int {
        let harness = Harness(configuration: configuration, parameters: parameters, concurrency: concurrency)
        let clock = ContinuousClock()
        print("Registering...")
        let registrationStart = clock.now
        _ = try await harness.registerAll(users, on: deployment, progress: Progress.printer(label: "registered"))
        print(Timing.done(elapsed: registrationStart.duration(to: clock.now), count: users.count))

        let (old, new) = try await deployment.fastForward()
        print("Old: \(old) New: \(new)")

        print("Looking up")
        let lookupStart = clock.now
        let tally = try await harness.lookUp(lookers, registered: users, epoch: new, on: deployment, progress: Progress.printer(label: "looked up"))
        print(Timing.done(elapsed: lookupStart.duration(to: clock.now), count: lookers.count))
        print("Lookups: \(tally.pirLookups) by PIR, \(tally.downloadLookups) by download; \(tally.online) of \(tally.answers) buddies online")
        print("Wrong answers: \(tally.wrong)")
        return tally.wrong
    }
}

/// Progress lines on standard error for long runs: one per tenth, only past 1000 items.
enum Progress {
    static func printer(label: String) -> @Sendable (_ done: Int, _ total: Int) -> Void {
        { done, total in
            guard total >= 1000, done % max(1, total / 10) == 0 else { return }
            FileHandle.standardError.write(Data("  \(label) \(done) of \(total)\n".utf8))
        }
    }
}

/// The original harness's `Done (X.XXs / Y.YYms / user)` line.
enum Timing {
    static func done(elapsed: Duration, count: Int) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let perUser = count > 0 ? seconds * 1000 / Double(count) : 0
        return "Done (" + String(format: "%.2fs / %.2fms / user)", seconds, perUser)
    }
}
