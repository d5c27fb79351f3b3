import AsyncHTTPClient
import DP5Client
import DP5Core
import DP5Harness
import DP5Server
import DP5Testing
import Foundation
import Logging
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Servers started and stopped many times while requests are in flight and clients abort
/// theirs: every stop must be clean (a lookup server once died with SIGSEGV on SIGTERM just
/// after a client aborted).
@Suite("Stopping servers with requests in flight", .serialized)
struct ShutdownStressTests {
    /// Fires PIR lookups, metadata requests and downloads at `port` without waiting for them;
    /// every third is cancelled midway, as a client that gives up.
    func flood(port: Int, epoch: Epoch, users: [SimulatedUser], http: HTTPClient) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for (index, user) in users.enumerated() {
                    let task = Task {
                        let client = DP5HTTPClient(
                            configuration: try ClientConfiguration(
                                registrationServer: "http://127.0.0.1:\(port)",
                                lookupServers: [
                                    "http://127.0.0.1:\(port)", "http://127.0.0.1:\(port)", "http://127.0.0.1:\(port)",
                                ],
                                privacyLevel: 1
                            ),
                            httpClient: http
                        )
                        _ = try await client.lookup(privateKey: user.privateKey, buddies: user.buddies, epoch: epoch)
                    }
                    group.addTask {
                        if index % 3 == 0 {
                            await Task.yield()
                            task.cancel()
                        }
                        _ = await task.result
                    }
                }
            }
        }
    }

    @Test func sigtermWithRequestsInFlightExitsCleanly() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configPath = directory + "/server.cfg"
        try """
        { "server": { "server.socket_host": "127.0.0.1", "server.socket_port": 0 },
          "isRegServer": true, "isLookupServer": true, "regdir": "\(directory)/regdir", "datadir": "\(directory)/datadir",
          "allowDebugFastForward": true, "epochLength": \(1 << 30) }
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let configuration = try DP5Configuration(epochLength: 1 << 30)
        let users = mixedPopulation(count: 24)
        var statuses: [Int32?] = []
        try await HTTPClient.withHTTPClient { http in
            for round in 0..<5 {
                let server = try await ChildServer.start(configPath: configPath)
                let client = DP5HTTPClient(
                    configuration: try ClientConfiguration(
                        registrationServer: "http://127.0.0.1:\(server.port)",
                        lookupServers: ["http://127.0.0.1:\(server.port)", "http://127.0.0.1:\(server.port)"],
                        protocolConfiguration: configuration
                    ),
                    httpClient: http
                )
                if round == 0 {
                    let harness = Harness(
                        configuration: configuration,
                        parameters: client.configuration.lookupParameters,
                        concurrency: 4
                    )
                    _ = try await harness.registerAll(users, on: HTTPDeployment(client: client))
                    _ = try await client.fastForward()
                }
                let epoch = try await client.registrationServerStatus().epoch
                let requests = flood(port: server.port, epoch: epoch, users: users, http: http)
                // Stop it after a varying number of scheduling turns, with lookups at every stage.
                for _ in 0..<(round * 7) { await Task.yield() }
                statuses.append(await server.stop(signal: SIGTERM))
                requests.cancel()
                await requests.value
                if statuses.last != 0 {
                    Issue.record(
                        "round \(round): exit status \(statuses.last.map { "\($0 ?? -1)" } ?? "?")\n\(server.logText)"
                    )
                }
            }
        }
        #expect(statuses.allSatisfy { $0 == 0 }, "\(statuses)")
    }

    @Test func inProcessClustersStartAndStopWithLookupsInFlight() async throws {
        let users = mixedPopulation(count: 12)
        for round in 0..<4 {
            try await LocalCluster.run(
                lookupServers: 3,
                privacyLevel: 1,
                directory: temporaryDirectory(),
                clock: ManualEpochClock(),
                logger: Logger(label: "dp5.test")
            ) { cluster in
                try await DP5HTTPClient.withClient(configuration: cluster.clientConfiguration) { client in
                    let harness = Harness(
                        configuration: .default,
                        parameters: cluster.clientConfiguration.lookupParameters,
                        concurrency: 4
                    )
                    _ = try await harness.registerAll(users, on: HTTPDeployment(client: client))
                    let epoch = try await client.fastForward().new
                    // Lookups still running when the cluster shuts down.
                    let inFlight = Task {
                        try? await harness.lookUp(
                            users,
                            registered: users,
                            epoch: epoch,
                            on: HTTPDeployment(client: client)
                        )
                    }
                    for _ in 0..<(round * 5) { await Task.yield() }
                    inFlight.cancel()
                    _ = await inFlight.value
                }
            }
        }
    }
}
