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

    @Argument(
        help: "Client configuration (servers.cfg; with --two-level, a two-level configuration naming both deployments)."
    )
    var config: String

    @Argument(help: "Users file from `dp5 users`.")
    var users: String

    @Argument(help: "How many users look their buddies up (default: all), chosen at random.")
    var numberOfLookups: Int?

    @Option(help: "Requests in flight at once (default: 5 × CPUs, as the original).")
    var concurrency = 5 * ProcessInfo.processInfo.activeProcessorCount

    @Flag(
        help:
            "The configuration names a standard and a combined deployment: distribute BLS keys, then look up who is online now."
    )
    var twoLevel = false

    func run() async throws {
        if twoLevel { return try await runTwoLevel() }
        let configuration = try loadConfiguration(config, ClientConfiguration.init(contentsOfFile:))
        let population = try UsersFile.read(from: users)
        let lookers = numberOfLookups.map { Array(population.shuffled().prefix($0)) } ?? population
        let passed = try await DP5HTTPClient.withClient(configuration: configuration, connectionsPerServer: concurrency)
        { client in
            if configuration.protocolConfiguration.combined {
                return try await CombinedHarnessRun(
                    configuration: configuration.protocolConfiguration,
                    parameters: configuration.lookupParameters,
                    concurrency: concurrency,
                    deployment: HTTPDeployment(client: client),
                    lookupServers: configuration.lookupServers
                ).run(users: population, lookers: lookers)
            }
            return try await HarnessRun(
                configuration: configuration.protocolConfiguration,
                parameters: configuration.lookupParameters,
                concurrency: concurrency,
                deployment: HTTPDeployment(client: client),
                lookupServers: configuration.lookupServers
            ).run(users: population, lookers: lookers)
        }
        if !passed { throw ExitCode.failure }
    }
}

extension ClientCommand {
    private func runTwoLevel() async throws {
        let configuration = try loadConfiguration(config, TwoLevelConfiguration.init(contentsOfFile:))
        let population = try UsersFile.read(from: users)
        let lookers = numberOfLookups.map { Array(population.shuffled().prefix($0)) } ?? population
        let concurrency = concurrency
        let passed = try await DP5HTTPClient.withClient(
            configuration: configuration.standard,
            connectionsPerServer: concurrency
        ) { standard in
            try await DP5HTTPClient.withClient(configuration: configuration.combined, connectionsPerServer: concurrency)
            { combined in
                try await TwoLevelRun(
                    standardConfiguration: configuration.standard.protocolConfiguration,
                    standardParameters: configuration.standard.lookupParameters,
                    standard: HTTPDeployment(client: standard),
                    combinedConfiguration: configuration.combined.protocolConfiguration,
                    combinedParameters: configuration.combined.lookupParameters,
                    combined: HTTPDeployment(client: combined),
                    concurrency: concurrency,
                    lookupServers: configuration.combined.lookupServers
                ).run(users: population, lookers: lookers)
            }
        }
        if !passed { throw ExitCode.failure }
    }
}

/// The harness run shared by `dp5 client` and `dp5 demo`, printing the original's lines and,
/// beyond them, latency percentiles, unchecked lookups and the lookup servers named as liars.
struct HarnessRun<Deployment: DP5Deployment> {
    let configuration: DP5Configuration
    let parameters: LookupParameters
    let concurrency: Int
    let deployment: Deployment
    /// The lookup servers' addresses, to name them in the output.
    let lookupServers: [String]

    /// - Returns: whether every answer was right and every lookup succeeded.
    func run(users: [SimulatedUser], lookers: [SimulatedUser]) async throws -> Bool {
        let harness = Harness(configuration: configuration, parameters: parameters, concurrency: concurrency)
        // Found out before anyone registers, so fixing the setting and running again does not
        // register everyone a second time for the same epoch.
        if try await deployment.allowsFastForward() == false {
            throw CommandError(
                "the registration server refuses to fast-forward, which this harness needs after registering: add "
                    + "\"allowDebugFastForward\": true to its configuration file (regserver.cfg) and restart it. Nobody was registered."
            )
        }
        let clock = ContinuousClock()
        print("Registering...")
        let registrationStart = clock.now
        _ = try await harness.registerAll(users, on: deployment, progress: Progress.printer(label: "registered"))
        Progress.finish()
        print(Timing.done(elapsed: registrationStart.duration(to: clock.now), count: users.count))

        let (old, new) = try await deployment.fastForward()
        print("Old: \(old) New: \(new)")

        print("Looking up")
        let lookupStart = clock.now
        let tally = try await harness.lookUp(
            lookers,
            registered: users,
            epoch: new,
            on: deployment,
            progress: Progress.printer(label: "looked up")
        )
        Progress.finish()
        print(Timing.done(elapsed: lookupStart.duration(to: clock.now), count: lookers.count))
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
        if tally.unverified > 0 {
            print(
                "Unchecked lookups: \(tally.unverified) (no spare lookup server confirmed them; a lying server there would go unnoticed)"
            )
        }
        for (server, count) in tally.faultyServers.sorted(by: { $0.key < $1.key }) {
            print("Lying or broken lookup server: \(name(server)) (named by \(count) lookups)")
        }
        if tally.failed > 0 {
            print("Failed lookups: \(tally.failed)")
            for (reason, count) in tally.failures.sorted(by: { $0.value > $1.value }).prefix(5) {
                print("  \(count) × \(reason)")
            }
        }
        print("Wrong answers: \(tally.wrong)")
        return tally.wrong == 0 && tally.failed == 0
    }

    private func name(_ server: Int) -> String {
        lookupServers.indices.contains(server) ? lookupServers[server] : "#\(server)"
    }
}

/// A failure to report as a message only, without the usage text ArgumentParser adds to
/// validation errors; the command exits with status 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Progress on standard error for long runs: on a terminal a line that updates itself as
/// items finish (from 1000 items); otherwise one line per tenth.
enum Progress {
    static let isTerminal = isatty(STDERR_FILENO) != 0

    static func printer(label: String) -> @Sendable (_ done: Int, _ total: Int) -> Void {
        { done, total in
            guard total >= 1000 else { return }
            if isTerminal {
                guard done % max(1, total / 200) == 0 || done == total else { return }
                FileHandle.standardError.write(Data("\r  \(label) \(done) of \(total) (\(done * 100 / total)%)".utf8))
            } else if done % max(1, total / 10) == 0 {
                FileHandle.standardError.write(Data("  \(label) \(done) of \(total)\n".utf8))
            }
        }
    }

    /// Ends a terminal progress line.
    static func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// The original harness's `Done (X.XXs / Y.YYms / user)` line.
enum Timing {
    static func done(elapsed: Duration, count: Int) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let perUser = count > 0 ? seconds * 1000 / Double(count) : 0
        return "Done (" + String(format: "%.2fs / %.2fms / user)", seconds, perUser)
    }

    static func milliseconds(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1f ms", seconds * 1000)
    }
}
