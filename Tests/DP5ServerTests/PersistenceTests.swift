import AsyncHTTPClient
import DP5Client
import DP5Core
import DP5Harness
import DP5Testing
import Foundation
import Logging
import Synchronization
import Testing

@testable import DP5Server

/// Every log line of a test, with its metadata, so the test can look for secrets in them.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: String { lines.withLock { $0.joined(separator: "\n") } }
}

struct CollectingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append("\(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 })")
    }
}

@Suite("Persistence, catch-up and logs", .serialized)
struct PersistenceTests {
    let logger = Logger(label: "dp5.test")

    @Test func epochsMissedWhileDownAreCaughtUp() async throws {
        let directory = temporaryDirectory()
        let clock = ManualEpochClock(1_420_070_400)
        let publications = PublicationDirectory(path: directory + "/datadir")
        try DurableFiles.createDirectory(directory + "/regdir")
        try DurableFiles.createDirectory(publications.path)
        let authority = try RegistrationAuthority(
            configuration: .default,
            clock: clock,
            registrationDirectory: directory + "/regdir",
            publications: publications,
            logger: logger
        )
        let start = Epoch(788_928)
        let client = RegistrationClient(privateKey: .generate(), configuration: .default)
        let message = try client.registrationMessage(epoch: start.next, buddies: [])
        // Registered during 788928 for 788929; then the server sleeps through three epochs.
        #expect(try await authority.register(message, urlEpoch: start) == [0] + start.next.wireBytes)
        clock.advance(by: 3 * 1800)
        let caughtUp = try await authority.publishDueEpochs()
        #expect(caughtUp == [start.next, Epoch(788_931)])
        let metadata = try Metadata(rawRepresentation: try #require(publications.metadataBytes(start.next)))
        #expect(metadata.dataFileSize > 0)
        #expect(FileManager.default.fileExists(atPath: directory + "/regdir/000c09c1.sreg"))
        #expect(try await authority.publishDueEpochs().isEmpty)
    }

    @Test func aRestartedLookupServerServesItsStoredDatabase() async throws {
        let directory = temporaryDirectory()
        let registration = try ServerConfiguration(
            port: 0,
            isRegistrationServer: true,
            isLookupServer: false,
            registrationDirectory: directory + "/regdir",
            dataDirectory: directory + "/regdata",
            allowDebugFastForward: true
        )
        let users = mixedPopulation(count: 12)
        var epoch = Epoch(0)
        var lookupPort = 0
        let live = LiveServerTests()
        try await live.withServer(registration) { registrationPort in
            let lookup = try ServerConfiguration(
                port: 0,
                isRegistrationServer: false,
                isLookupServer: true,
                dataDirectory: directory + "/lookupdata",
                registrationServer: "http://127.0.0.1:\(registrationPort)"
            )
            try await live.withServer(lookup) { port in
                lookupPort = port
                let configuration = try ClientConfiguration(
                    registrationServer: "http://127.0.0.1:\(registrationPort)",
                    lookupServers: ["http://127.0.0.1:\(port)", "http://127.0.0.1:\(port)"]
                )
                try await DP5HTTPClient.withClient(configuration: configuration) { client in
                    let harness = Harness(
                        configuration: .default,
                        parameters: configuration.lookupParameters,
                        concurrency: 4
                    )
                    _ = try await harness.registerAll(users, on: HTTPDeployment(client: client))
                    epoch = try await client.fastForward().new
                    let tally = try await harness.lookUp(
                        users,
                        registered: users,
                        epoch: epoch,
                        on: HTTPDeployment(client: client)
                    )
                    #expect(tally.wrong == 0)
                }
            }
        }
        #expect(lookupPort != 0)
        // The registration server is gone; the restarted lookup server still has the epoch.
        let lookup = try ServerConfiguration(
            port: 0,
            isRegistrationServer: false,
            isLookupServer: true,
            dataDirectory: directory + "/lookupdata",
            registrationServer: "http://127.0.0.1:1"
        )
        try await live.withServer(lookup) { port in
            let configuration = try ClientConfiguration(
                registrationServer: "http://127.0.0.1:1",
                lookupServers: ["http://127.0.0.1:\(port)", "http://127.0.0.1:\(port)"]
            )
            try await DP5HTTPClient.withClient(configuration: configuration) { client in
                let harness = Harness(
                    configuration: .default,
                    parameters: configuration.lookupParameters,
                    concurrency: 4
                )
                let tally = try await harness.lookUp(
                    users,
                    registered: users,
                    epoch: epoch,
                    on: HTTPDeployment(client: client)
                )
                #expect(tally.wrong == 0 && tally.online > 0)
            }
        }
    }

    @Test func noKeysOrDataInTheLogs() async throws {
        let lines = LogLines()
        var traceLogger = Logger(label: "dp5.secrets") { _ in CollectingLogHandler(lines: lines) }
        traceLogger.logLevel = Logger.Level.trace
        let users = mixedPopulation(count: 8)
        try await LocalCluster.run(
            lookupServers: 2,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: traceLogger
        ) { cluster in
            try await DP5HTTPClient.withClient(configuration: cluster.clientConfiguration) { client in
                let deployment = HTTPDeployment(client: client)
                let harness = Harness(
                    configuration: .default,
                    parameters: cluster.clientConfiguration.lookupParameters,
                    concurrency: 4
                )
                _ = try await harness.registerAll(users, on: deployment)
                let epoch = try await client.fastForward().new
                _ = try await harness.lookUp(users, registered: users, epoch: epoch, on: deployment)
            }
        }
        let log = lines.all
        #expect(!log.isEmpty)
        for user in users {
            for secret in [user.privateKey.rawRepresentation, user.privateKey.publicKey.rawRepresentation] {
                #expect(!log.contains(secret.prefix(6).hexString))
            }
        }
        for buddy in users[0].buddies {
            #expect(
                !log.contains(
                    String(
                        decoding: UserPopulation.presenceData(
                            registrant: users[0].privateKey.publicKey,
                            buddy: buddy,
                            size: 16
                        ),
                        as: UTF8.self
                    )
                )
            )
        }
    }
}
