import ArgumentParser
import DP5Client
import DP5Core
import DP5Harness
import DP5Server
import Foundation
import Logging

/// `dp5 demo`: the whole system on an embedded default deployment.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "Start a registration server and lookup servers on 127.0.0.1 over HTTPS, and run the harness against them.",
        discussion: """
            Makes a self-signed certificate and temporary directories, starts the servers on free \
            ports, generates users with up to 100 random buddies each, registers them all, \
            fast-forwards the epoch, and has every user look up all of its buddies by IT-PIR or by \
            download, whichever moves fewer bytes. Every answer is checked; the last line counts \
            wrong answers, which must be 0. Everything is shut down and removed at the end.
            """
    )

    @Option(help: "Number of simulated users.")
    var users = 200

    @Option(help: "Number of lookup servers (at least privacy level + 2 lets a lying server be caught).")
    var lookupServers = 3

    @Option(help: "Privacy level t: the most lookup servers that may collude (below the number of lookup servers).")
    var privacyLevel = 1

    func validate() throws {
        guard users > 0 else { throw ValidationError("--users must be at least 1") }
        guard privacyLevel >= 1, privacyLevel < lookupServers else {
            throw ValidationError("--privacy-level must be at least 1 and below --lookup-servers (\(lookupServers))")
        }
    }

    @Option(help: "Bytes of encrypted data per record (plaintext + 16-byte tag).")
    var dataEncSize = 32

    @Option(help: "Requests in flight at once (default: 5 × CPUs, as the original client).")
    var concurrency = 5 * ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Server log level (trace … critical); the servers' logs go to standard error.")
    var logLevel: Logger.Level = .warning

    @Flag(help: "Run a combined-mode (BLS12-381) deployment alone: one record per user, looked up by BLS public key.")
    var combined = false

    @Flag(
        help:
            "Run the two-level client: a standard deployment (long epochs) carrying BLS keys, then a combined one (short epochs) for who is online now."
    )
    var twoLevel = false

    func run() async throws {
        if combined && twoLevel { throw ValidationError("--combined and --two-level are exclusive") }
        if combined { return try await runCombined() }
        if twoLevel { return try await runTwoLevel() }
        let protocolConfiguration = try DP5Configuration(dataEncSize: dataEncSize)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dp5-demo-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SecureRandomNumberGenerator()
        let population = UserPopulation.generate(count: users, using: &generator)
        let logger = LoggingOptions.makeLogger(label: "dp5.demo", level: logLevel)
        let (users, lookupServers, concurrency) = (self.users, self.lookupServers, self.concurrency)

        let passed = try await LocalCluster.run(
            lookupServers: lookupServers,
            privacyLevel: privacyLevel,
            protocolConfiguration: protocolConfiguration,
            directory: directory,
            logger: logger
        ) { cluster in
            let client = cluster.clientConfiguration
            print("DP5 demo: \(users) users; registration server \(client.registrationServer);")
            print(
                "  lookup servers \(client.lookupServers.joined(separator: ", ")); privacy level \(client.lookupParameters.privacyLevel); dataEncSize \(protocolConfiguration.dataEncSize)"
            )
            return try await DP5HTTPClient.withClient(configuration: client, connectionsPerServer: concurrency) {
                http in
                try await HarnessRun(
                    configuration: protocolConfiguration,
                    parameters: client.lookupParameters,
                    concurrency: concurrency,
                    deployment: HTTPDeployment(client: http),
                    lookupServers: client.lookupServers
                ).run(users: population, lookers: population)
            }
        }
        if !passed { throw ExitCode.failure }
    }
}

extension DemoCommand {
    private func runCombined() async throws {
        let protocolConfiguration = try DP5Configuration(dataEncSize: dataEncSize, combined: true)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dp5-demo-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SecureRandomNumberGenerator()
        let population = UserPopulation.generate(count: users, using: &generator)
        let logger = LoggingOptions.makeLogger(label: "dp5.demo", level: logLevel)
        let (users, concurrency) = (self.users, self.concurrency)
        let passed = try await LocalCluster.run(
            lookupServers: lookupServers,
            privacyLevel: privacyLevel,
            protocolConfiguration: protocolConfiguration,
            directory: directory,
            logger: logger
        ) { cluster in
            let client = cluster.clientConfiguration
            print(
                "DP5 demo, combined mode (BLS12-381): \(users) users; registration server \(client.registrationServer);"
            )
            print(
                "  lookup servers \(client.lookupServers.joined(separator: ", ")); privacy level \(client.lookupParameters.privacyLevel); dataEncSize \(protocolConfiguration.dataEncSize)"
            )
            return try await DP5HTTPClient.withClient(configuration: client, connectionsPerServer: concurrency) {
                http in
                try await CombinedHarnessRun(
                    configuration: protocolConfiguration,
                    parameters: client.lookupParameters,
                    concurrency: concurrency,
                    deployment: HTTPDeployment(client: http),
                    lookupServers: client.lookupServers
                ).run(users: population, lookers: population)
            }
        }
        if !passed { throw ExitCode.failure }
    }

    private func runTwoLevel() async throws {
        // Long standard epochs whose records hold a 48-byte key; short combined epochs.
        let standardConfiguration = try DP5Configuration(
            epochLength: 86_400,
            dataEncSize: max(dataEncSize, CombinedParameters.publicKeyBytes + 16)
        )
        let combinedConfiguration = try DP5Configuration(epochLength: 300, dataEncSize: dataEncSize, combined: true)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dp5-demo-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SecureRandomNumberGenerator()
        let population = UserPopulation.generate(count: users, using: &generator)
        let logger = LoggingOptions.makeLogger(label: "dp5.demo", level: logLevel)
        let (users, concurrency, lookupServers, privacyLevel) = (
            self.users, self.concurrency, self.lookupServers, self.privacyLevel
        )
        let passed = try await LocalCluster.run(
            lookupServers: lookupServers,
            privacyLevel: privacyLevel,
            protocolConfiguration: standardConfiguration,
            directory: directory + "/standard",
            logger: logger
        ) { standardCluster in
            try await LocalCluster.run(
                lookupServers: lookupServers,
                privacyLevel: privacyLevel,
                protocolConfiguration: combinedConfiguration,
                directory: directory + "/combined",
                logger: logger
            ) { combinedCluster in
                let standardClient = standardCluster.clientConfiguration
                let combinedClient = combinedCluster.clientConfiguration
                print("DP5 demo, two-level: \(users) users")
                print(
                    "  standard deployment (epochs of \(standardConfiguration.epochLength) s, dataEncSize \(standardConfiguration.dataEncSize)): registration server \(standardClient.registrationServer)"
                )
                print(
                    "  combined deployment (epochs of \(combinedConfiguration.epochLength) s, dataEncSize \(combinedConfiguration.dataEncSize)): registration server \(combinedClient.registrationServer)"
                )
                return try await DP5HTTPClient.withClient(
                    configuration: standardClient,
                    connectionsPerServer: concurrency
                ) { standardHTTP in
                    try await DP5HTTPClient.withClient(configuration: combinedClient, connectionsPerServer: concurrency)
                    { combinedHTTP in
                        try await TwoLevelRun(
                            standardConfiguration: standardConfiguration,
                            standardParameters: standardClient.lookupParameters,
                            standard: HTTPDeployment(client: standardHTTP),
                            combinedConfiguration: combinedConfiguration,
                            combinedParameters: combinedClient.lookupParameters,
                            combined: HTTPDeployment(client: combinedHTTP),
                            concurrency: concurrency,
                            lookupServers: combinedClient.lookupServers
                        ).run(users: population, lookers: population)
                    }
                }
            }
        }
        if !passed { throw ExitCode.failure }
    }
}
