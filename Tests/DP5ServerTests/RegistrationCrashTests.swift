import DP5Client
import DP5Core
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Kills a registration server (SIGKILL, as a crash or `kill -9`) at random points while
/// registrations are in flight, before and after fast-forwards, restarts it, and checks that
/// every registration it acknowledged is in the database its reply named.
@Suite("Registrations across SIGKILL", .serialized)
struct RegistrationCrashTests {
    /// Epochs so long (2^30 s) that the clock stays in one epoch for the whole test (until 2038):
    /// only fast-forwards move it.
    static let configuration = try! DP5Configuration(epochLength: 1 << 30, dataEncSize: 32)

    struct Acknowledged: Sendable {
        let message: [UInt8]
        let epoch: Epoch
    }

    @Test func everyAcknowledgedRegistrationIsPublished() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configPath = directory + "/regserver.cfg"
        try """
        { "server": { "server.socket_host": "127.0.0.1", "server.socket_port": 0 },
          "isRegServer": true, "isLookupServer": false,
          "regdir": "\(directory)/regdir", "datadir": "\(directory)/datadir",
          "allowDebugFastForward": true, "epochLength": \(Self.configuration.epochLength), "keepEpochs": 1000 }
        """.write(toFile: configPath, atomically: true, encoding: .utf8)

        let acknowledged = Locked<[Acknowledged]>([])
        var generator = SystemRandomNumberGenerator()
        for round in 0..<6 {
            let server = try await ChildServer.start(configPath: configPath)
            let client = try ClientConfiguration(
                registrationServer: "http://127.0.0.1:\(server.port)",
                lookupServers: ["http://127.0.0.1:1", "http://127.0.0.1:1"],
                protocolConfiguration: Self.configuration
            )
            // Rounds alternate: a fast-forward before registering, or in the middle of them.
            let fastForwardFirst = round % 2 == 1
            let killAfter = Int.random(in: 2...20, using: &generator)
            try await DP5HTTPClient.withClient(configuration: client, connectTimeout: .seconds(2)) { http in
                if fastForwardFirst { _ = try await http.fastForward() }
                let count = Locked(0)
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<6 {
                        group.addTask {
                            for attempt in 0..<30 {
                                do {
                                    if !fastForwardFirst && worker == 0 && attempt == 3 {
                                        _ = try await http.fastForward()
                                    }
                                    let key = DHPrivateKey.generate()
                                    let current = try await http.registrationServerStatus().epoch
                                    let message = try RegistrationClient(
                                        privateKey: key,
                                        configuration: Self.configuration
                                    )
                                    .registrationMessage(epoch: current.next, buddies: [])
                                    let reply = try await http.postRegistration(message, currentEpoch: current)
                                    try RegistrationClient.verifyReply(reply, epoch: current.next)
                                    acknowledged.withLock {
                                        $0.append(Acknowledged(message: message, epoch: current.next))
                                    }
                                    if count.withLock({
                                        $0 += 1
                                        return $0
                                    }) == killAfter {
                                        // Killed while the other workers' requests are in flight.
                                        await server.stop(signal: SIGKILL)
                                    }
                                } catch {
                                    // Refused or cut off by the kill: not acknowledged, so not counted.
                                    if count.withLock({ $0 }) >= killAfter { return }
                                }
                            }
                        }
                    }
                }
                if count.withLock({ $0 }) < killAfter { await server.stop(signal: SIGKILL) }
            }
        }

        // A last restart; fast-forwarding publishes the epoch the latest registrations named.
        let server = try await ChildServer.start(configPath: configPath)
        let client = try ClientConfiguration(
            registrationServer: "http://127.0.0.1:\(server.port)",
            lookupServers: ["http://127.0.0.1:1", "http://127.0.0.1:1"],
            protocolConfiguration: Self.configuration
        )
        try await DP5HTTPClient.withClient(configuration: client) { http in _ = try await http.fastForward() }
        await server.stop(signal: SIGTERM)

        let registrations = acknowledged.withLock { $0 }
        #expect(registrations.count >= 6, "too few registrations were acknowledged to test anything")
        #expect(Set(registrations.map(\.epoch)).count >= 2, "the registrations should span several epochs")
        let processor = RegistrationProcessor(configuration: Self.configuration)
        var databases: [Epoch: Set<[UInt8]>] = [:]
        var missing = 0
        for registration in registrations {
            if databases[registration.epoch] == nil {
                let path = directory + "/datadir/data\(registration.epoch).dat"
                let bytes = try #require(
                    FileManager.default.contents(atPath: path),
                    "epoch \(registration.epoch) was never published"
                )
                let recordSize = Self.configuration.recordSize
                databases[registration.epoch] = Set(
                    stride(from: 0, to: bytes.count, by: recordSize).map { Array(bytes[$0..<($0 + recordSize)]) }
                )
            }
            let records = processor.process(registration.message, nextEpoch: registration.epoch).storedRecords
            let recordSize = Self.configuration.recordSize
            let all = stride(from: 0, to: records.count, by: recordSize).allSatisfy {
                databases[registration.epoch]!.contains(Array(records[$0..<($0 + recordSize)]))
            }
            if !all { missing += 1 }
        }
        #expect(
            missing == 0,
            "\(missing) of \(registrations.count) acknowledged registrations are missing from the database their reply named"
        )
    }
}
