import AsyncHTTPClient
import DP5Client
import DP5Core
import DP5Harness
import DP5Server
import DP5Testing
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("dp5-test-\(UUID().uuidString)").path
}

/// Users with many buddies (their lookups touch many buckets) and users with one buddy (one
/// bucket), so a run exercises both the download and the PIR path.
func mixedPopulation(count: Int) -> [SimulatedUser] {
    var generator = SystemRandomNumberGenerator()
    let users = UserPopulation.generate(count: count, maximumBuddies: 5, using: &generator)
    return users.enumerated().map { index, user in
        index % 3 == 0
            ? SimulatedUser(privateKey: user.privateKey, buddies: [users[(index + 1) % count].privateKey.publicKey])
            : user
    }
}

@Suite("Live servers over HTTPS on loopback", .serialized)
struct LiveServerTests {
    let logger = Logger(label: "dp5.test")

    @Test func fiftyUsersOverPIRAndDownload() async throws {
        try await LocalCluster.run(
            lookupServers: 3,
            privacyLevel: 1,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: logger
        ) { cluster in
            try await DP5HTTPClient.withClient(configuration: cluster.clientConfiguration) { client in
                let deployment = HTTPDeployment(client: client)
                let harness = Harness(
                    configuration: .default,
                    parameters: cluster.clientConfiguration.lookupParameters,
                    concurrency: 8
                )
                let users = mixedPopulation(count: 50)

                // Epoch 1: all 50 register; the database is large enough that lookups use PIR.
                let epoch = try await harness.registerAll(users, on: deployment)
                let (old, new) = try await deployment.fastForward()
                #expect(new == epoch && old.next == new)
                let first = try await harness.lookUp(users, registered: users, epoch: new, on: deployment)
                #expect(first.wrong == 0 && first.online > 0)
                #expect(first.pirLookups > 0, "\(first)")

                // Epoch 2: only 15 register; a download of the small database beats 100 PIR
                // queries, so lookups of several buckets download it.
                let few = Array(users.prefix(15))
                _ = try await harness.registerAll(few, on: deployment)
                let second = try await harness.lookUp(
                    users,
                    registered: few,
                    epoch: try await deployment.fastForward().new,
                    on: deployment
                )
                #expect(second.wrong == 0)
                #expect(second.downloadLookups > 0, "\(second)")
            }
        }
    }

    /// Registers `users` with `client` and fast-forwards; returns the new epoch.
    func registerAndPublish(_ users: [SimulatedUser], client: DP5HTTPClient) async throws -> Epoch {
        let harness = Harness(
            configuration: .default,
            parameters: client.configuration.lookupParameters,
            concurrency: 4
        )
        _ = try await harness.registerAll(users, on: HTTPDeployment(client: client))
        return try await client.fastForward().new
    }

    /// A lookup of one buddy (so by PIR) in which server `liar` alters its answer: the first byte
    /// of every record's place.
    func lookupWithLiar(
        _ liar: Int,
        user: SimulatedUser,
        epoch: Epoch,
        client: DP5HTTPClient
    ) async throws -> LookupResult {
        try await LookupClient(privateKey: user.privateKey).lookup(
            buddies: [user.buddies[0]],
            epoch: epoch,
            parameters: client.configuration.lookupParameters
        ) { server, body, limit in
            var reply = try await client.postLookup(body, epoch: epoch, server: server, limit: limit)
            if server == liar, reply.first == LookupResponder.pirAnswerStatus {
                for index in stride(from: 5, to: reply.count, by: DP5Configuration.default.recordSize) {
                    reply[index] ^= 0x40
                }
            }
            return reply
        }
    }

    @Test func aLyingLookupServerIsDetectedAndNamed() async throws {
        try await LocalCluster.run(
            lookupServers: 4,
            privacyLevel: 1,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: logger
        ) { cluster in
            try await DP5HTTPClient.withClient(configuration: cluster.clientConfiguration) { client in
                var users = mixedPopulation(count: 12)
                users[0] = SimulatedUser(privateKey: users[0].privateKey, buddies: [users[1].privateKey.publicKey])
                let epoch = try await registerAndPublish(users, client: client)
                let expected = users[1].buddies.contains(users[0].privateKey.publicKey)

                // Four servers, t = 1: three honest answers outvote the liar, who is named.
                let result = try await lookupWithLiar(2, user: users[0], epoch: epoch, client: client)
                #expect(result.method == .pir)
                #expect(result.faultyServers == [2])
                #expect(result.presences[0].isOnline == expected)

                // Only three servers answering, t = 1: two against one is no majority, but only the
                // honest pair's reconstruction yields real buckets, so the liar is still named.
                let three = try ClientConfiguration(
                    registrationServer: client.configuration.registrationServer,
                    lookupServers: Array(client.configuration.lookupServers.prefix(3)),
                    privacyLevel: 1,
                    trust: client.configuration.trust
                )
                try await DP5HTTPClient.withClient(configuration: three) { threeServers in
                    let result = try await lookupWithLiar(2, user: users[0], epoch: epoch, client: threeServers)
                    #expect(result.faultyServers == [2])
                    #expect(result.isVerified)
                    #expect(result.presences[0].isOnline == expected)
                }

                // Two servers, t = 1: nothing to check against but plausibility, which still refuses the lie.
                let two = try ClientConfiguration(
                    registrationServer: client.configuration.registrationServer,
                    lookupServers: Array(client.configuration.lookupServers.prefix(2)),
                    privacyLevel: 1,
                    trust: client.configuration.trust
                )
                try await DP5HTTPClient.withClient(configuration: two) { twoServers in
                    do {
                        let result = try await lookupWithLiar(1, user: users[0], epoch: epoch, client: twoServers)
                        Issue.record("a lie among two answers was believed: \(result)")
                    } catch let error as DP5Error {
                        #expect(error.code == .inconsistentReplies)
                    }
                }
            }
        }
    }

    @Test func aDownLookupServerLeavesEnoughAnswers() async throws {
        try await LocalCluster.run(
            lookupServers: 2,
            privacyLevel: 1,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: logger
        ) { cluster in
            // A third lookup server that is down: nothing listens on its port.
            let withDownServer = try ClientConfiguration(
                registrationServer: cluster.clientConfiguration.registrationServer,
                lookupServers: cluster.clientConfiguration.lookupServers + ["https://127.0.0.1:1"],
                privacyLevel: 1,
                trust: cluster.clientConfiguration.trust
            )
            // Short enough that the down server costs little, long enough for a loaded machine's
            // TLS handshakes with the servers that are up.
            try await DP5HTTPClient.withClient(configuration: withDownServer, connectTimeout: .seconds(1)) { client in
                let users = mixedPopulation(count: 15)
                let epoch = try await registerAndPublish(users, client: client)
                let harness = Harness(
                    configuration: .default,
                    parameters: withDownServer.lookupParameters,
                    concurrency: 4
                )
                let tally = try await harness.lookUp(
                    users,
                    registered: users,
                    epoch: epoch,
                    on: HTTPDeployment(client: client)
                )
                #expect(tally.wrong == 0 && tally.pirLookups > 0 && tally.downloadLookups > 0, "\(tally)")
            }
        }
    }

    @Test func oneHundredConcurrentKeepAliveClients() async throws {
        try await LocalCluster.run(
            lookupServers: 2,
            privacyLevel: 1,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: logger
        ) { cluster in
            try await DP5HTTPClient.withClient(configuration: cluster.clientConfiguration, connectionsPerServer: 100) {
                client in
                let users = mixedPopulation(count: 10)
                let epoch = try await registerAndPublish(users, client: client)
                let completed = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<100 {
                        group.addTask {
                            // Each client asks one lookup server several times over its kept-alive connection.
                            for _ in 0..<3 {
                                let reply = try await client.postLookup(
                                    LookupClient.metadataRequest(epoch: epoch),
                                    epoch: epoch,
                                    server: 0,
                                    limit: 64
                                )
                                _ = try LookupClient.metadata(fromReply: reply, epoch: epoch)
                            }
                            return 1
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(completed == 100)
            }
        }
    }

    @Test func httpSurfaceAndRefusals() async throws {
        try await LocalCluster.run(
            lookupServers: 2,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: logger
        ) { cluster in
            var configuration = HTTPClient.Configuration(
                tlsConfiguration: try cluster.clientConfiguration.trust.makeClientConfiguration()
            )
            configuration.timeout.read = .seconds(30)
            try await HTTPClient.withHTTPClient(configuration: configuration) { http in
                let registration = cluster.clientConfiguration.registrationServer
                let lookup = cluster.clientConfiguration.lookupServers[0]
                func call(_ url: String, post body: [UInt8]? = nil) async throws -> (status: Int, body: [UInt8]) {
                    var request = HTTPClientRequest(url: url)
                    if let body {
                        request.method = .POST
                        request.body = .bytes(ByteBuffer(bytes: body))
                    }
                    let response = try await http.execute(request, timeout: .seconds(30))
                    return (
                        Int(response.status.code),
                        Array(try await response.body.collect(upTo: 1 << 24).readableBytesView)
                    )
                }
                let status = try await call(registration + "/")
                #expect(status.status == 200)
                #expect(
                    String(decoding: status.body, as: UTF8.self)
                        == "{\"epoch\": 788928, \"register\": true, \"epochLength\": 1800, \"dataEncSize\": 32, \"combined\": false, \"fastForward\": true}"
                )

                // Registration: path and query forms; a wrong URL epoch is HTTP 403; a wrong body epoch is 0x02.
                let current = Epoch(788_928)
                #expect(
                    try await call(registration + "/register/\(current)/", post: current.next.wireBytes).body == [0]
                        + current.next.wireBytes
                )
                #expect(
                    try await call(registration + "/register?epoch=\(current)", post: current.next.wireBytes).body == [
                        0
                    ] + current.next.wireBytes
                )
                #expect(
                    try await call(registration + "/register/\(current.next)/", post: current.next.wireBytes).status
                        == 403
                )
                #expect(
                    try await call(registration + "/register/\(current)/", post: current.wireBytes).body == [2]
                        + current.next.wireBytes
                )
                #expect(try await call(lookup + "/register/\(current)/", post: current.next.wireBytes).status == 403)
                // Oversized bodies are refused before they are read whole.
                #expect(
                    try await call(registration + "/register/\(current)/", post: [UInt8](repeating: 0, count: 17 << 20))
                        .status == 413
                )

                // Lookups for an epoch with no database are HTTP 403; fast-forward publishes one.
                #expect(
                    try await call(
                        lookup + "/lookup/\(current.next)/",
                        post: LookupClient.metadataRequest(epoch: current.next)
                    ).status == 403
                )
                #expect(
                    String(decoding: try await call(registration + "/debugfastforward").body, as: UTF8.self)
                        == "Old: 788928 New: 788929"
                )
                let metadata = try await call(
                    lookup + "/lookup?epoch=\(current.next)",
                    post: LookupClient.metadataRequest(epoch: current.next)
                )
                #expect(metadata.status == 200 && metadata.body.count == 30)
                // An oversized lookup is refused too: announced by Content-Length, or sent chunked
                // (no length: refused once the bytes read pass the limit).
                #expect(
                    try await call(lookup + "/lookup/\(current.next)/", post: [UInt8](repeating: 0, count: 17 << 20))
                        .status == 413
                )
                var chunked = HTTPClientRequest(url: lookup + "/lookup/\(current.next)/")
                chunked.method = .POST
                let (chunks, more) = AsyncStream.makeStream(of: ByteBuffer.self)
                for _ in 0..<40 { more.yield(ByteBuffer(repeating: 0, count: 1 << 19)) }
                more.finish()
                chunked.body = .stream(chunks, length: .unknown)
                #expect(try await http.execute(chunked, timeout: .seconds(30)).status.code == 413)
                #expect(
                    try await call(lookup + "/lookup/\(current.next)/", post: [0xFF] + current.wireBytes).body == [0]
                        + current.next.wireBytes
                )
                #expect(
                    try await call(lookup + "/lookup/\(current.next)/", post: [0x99]).body == [0]
                        + current.next.wireBytes
                )

                // Downloads: data, metadata (two forms), and 403 for an unknown epoch.
                #expect(try await call(registration + "/download/\(current.next)/meta").body == metadata.body)
                #expect(try await call(registration + "/download/\(current.next)?metadata=1").body == metadata.body)
                let parsed = try Metadata(rawRepresentation: metadata.body)
                #expect(try await call(registration + "/download/\(current.next)").body.count == parsed.dataFileSize)
                #expect(try await call(registration + "/download/12345").status == 403)
                #expect(try await call(lookup + "/debugfastforward").status == 403)
            }
        }
    }

    @Test func mismatchedParametersAreReportedBeforeRegistering() async throws {
        try await LocalCluster.run(
            lookupServers: 2,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: logger
        ) { cluster in
            var other = cluster.clientConfiguration
            other.protocolConfiguration = try DP5Configuration(dataEncSize: 48)
            try await DP5HTTPClient.withClient(configuration: other) { client in
                do {
                    try await client.register(privateKey: .generate(), buddies: [])
                    Issue.record("registering with another dataEncSize went through")
                } catch let error as DP5Error {
                    #expect(error.code == .configurationMismatch)
                    #expect(error.reason == "dataEncSize is 32 on the servers, 48 here")
                }
            }
        }
    }

    @Test func fastForwardIsOffUnlessConfigured() async throws {
        let directory = temporaryDirectory()
        let configuration = try ServerConfiguration(
            port: 0,
            isRegistrationServer: true,
            isLookupServer: false,
            registrationDirectory: directory + "/regdir",
            dataDirectory: directory + "/datadir"
        )
        try await withServer(configuration) { port in
            try await HTTPClient.withHTTPClient { http in
                let response = try await http.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/debugfastforward"),
                    timeout: .seconds(10)
                )
                #expect(response.status.code == 403)
            }
        }
    }

    /// Runs one server (plain HTTP) in a service group for the duration of `body`.
    func withServer(_ configuration: ServerConfiguration, _ body: (Int) async throws -> Void) async throws {
        try await runServer(configuration, logger: logger, body)
    }

    @Test func registrationsSurviveARestart() async throws {
        let directory = temporaryDirectory()
        // One server in both roles, over plain HTTP, so lookups need no second server.
        let configuration = try ServerConfiguration(
            port: 0,
            isRegistrationServer: true,
            isLookupServer: true,
            registrationDirectory: directory + "/regdir",
            dataDirectory: directory + "/datadir",
            allowDebugFastForward: true
        )
        let users = mixedPopulation(count: 20)
        func client(_ port: Int) throws -> ClientConfiguration {
            try ClientConfiguration(
                registrationServer: "http://127.0.0.1:\(port)",
                lookupServers: Array(repeating: "http://127.0.0.1:\(port)", count: 2),
                privacyLevel: 1
            )
        }
        try await withServer(configuration) { port in
            try await DP5HTTPClient.withClient(configuration: client(port)) { http in
                let harness = Harness(
                    configuration: .default,
                    parameters: http.configuration.lookupParameters,
                    concurrency: 4
                )
                _ = try await harness.registerAll(users, on: HTTPDeployment(client: http))
            }
        }
        try await withServer(configuration) { port in
            try await DP5HTTPClient.withClient(configuration: client(port)) { http in
                let epoch = try await http.fastForward().new
                let harness = Harness(
                    configuration: .default,
                    parameters: http.configuration.lookupParameters,
                    concurrency: 4
                )
                let tally = try await harness.lookUp(
                    users,
                    registered: users,
                    epoch: epoch,
                    on: HTTPDeployment(client: http)
                )
                #expect(tally.wrong == 0 && tally.online > 0)
            }
        }
    }
}
