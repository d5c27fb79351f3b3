import DP5Client
import DP5Core
import DP5Harness
import DP5Server
import DP5Testing
import Foundation
import Logging
import Testing

/// Combined mode on live servers over HTTPS: registrations by BLS signature, refusals of bad
/// σ with status 0x04 (logged, never a crash), and lookups by BLS public key.
@Suite("Combined mode on live servers", .serialized)
struct CombinedServerTests {
    static let configuration = try! DP5Configuration(epochLength: 60, dataEncSize: 32, combined: true)

    @Test func registrationsLookupsAndRefusedSignatures() async throws {
        let lines = LogLines()
        try await LocalCluster.run(
            lookupServers: 3,
            privacyLevel: 1,
            protocolConfiguration: Self.configuration,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: collectingLogger(lines)
        ) { cluster in
            try await DP5HTTPClient.withClient(configuration: cluster.clientConfiguration) { client in
                var generator = SystemRandomNumberGenerator()
                let keys = (0..<12).map { _ in BLSPrivateKey.generate(using: &generator) }
                let data = { (key: BLSPrivateKey) in
                    UserPopulation.combinedPresenceData(registrant: key.publicKey, size: 16)
                }
                let online = keys.enumerated().filter { $0.offset % 3 != 0 }.map(\.element)
                for key in online {
                    try await client.registerCombined(privateKey: key, data: data(key))
                }

                // Bad σ: off the curve, outside G2, the identity, a wrong length.
                let current = try await client.registrationServerStatus().epoch
                let badSignatures: [[UInt8]] = [
                    [UInt8](
                        hexString: "80" + String(repeating: "0", count: 92) + "01" + String(repeating: "0", count: 94)
                            + "06"
                    )!,
                    [UInt8](
                        hexString: "a0" + String(repeating: "0", count: 92) + "01" + String(repeating: "0", count: 94)
                            + "01"
                    )!,
                    [0xC0] + [UInt8](repeating: 0, count: 95),
                ]
                for sigma in badSignatures {
                    let reply = try await client.postRegistration(
                        current.next.wireBytes + sigma + [UInt8](repeating: 7, count: 32),
                        currentEpoch: current
                    )
                    #expect(reply == [0x04] + current.next.wireBytes)
                }
                let short = try await client.postRegistration(
                    current.next.wireBytes + [0x80, 1, 2],
                    currentEpoch: current
                )
                #expect(short == [0x03] + current.next.wireBytes)
                #expect(lines.all.contains("Refused a combined registration: sigma is not on the curve"))
                #expect(lines.all.contains("sigma is not in the prime-order subgroup"))
                #expect(lines.all.contains("sigma is the identity"))

                // The status page tells clients the server is combined.
                let (old, new) = try await client.fastForward()
                #expect(old.next == new)
                let result = try await client.lookupCombined(buddies: keys.map(\.publicKey))
                for (index, presence) in result.presences.enumerated() {
                    #expect(presence.data == (index % 3 != 0 ? data(keys[index]) : nil), "user \(index)")
                }
                let single = try await client.lookupCombined(buddies: [keys[1].publicKey])
                #expect(single.presences.first?.data == data(keys[1]))
            }
        }
    }

    @Test func aStandardClientIsToldTheServersAreCombined() async throws {
        try await LocalCluster.run(
            lookupServers: 2,
            privacyLevel: 1,
            protocolConfiguration: Self.configuration,
            directory: temporaryDirectory(),
            clock: ManualEpochClock(),
            logger: Logger(label: "dp5.test")
        ) { cluster in
            var standard = cluster.clientConfiguration
            standard.protocolConfiguration = try DP5Configuration(epochLength: 60, dataEncSize: 32)
            try await DP5HTTPClient.withClient(configuration: standard) { client in
                await #expect(throws: DP5Error(.configurationMismatch, "")) {
                    try await client.registrationServerStatus()
                }
                // A standard registration is refused by the combined server's length check.
                let current = Self.configuration.currentEpoch(clock: ManualEpochClock())
                let reply = try await client.postRegistration(
                    current.next.wireBytes + [UInt8](repeating: 0, count: 100 * 42),
                    currentEpoch: current
                )
                #expect(reply == [0x03] + current.next.wireBytes)
            }
        }
    }

    @Test func theTwoLevelConfigurationNamesBothDeployments() throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/twolevel.cfg"
        try Data(
            #"""
            { "standardDeployment": { "regServer": "localhost:8443", "lookupServers": ["localhost:8444", "localhost:8445"], "epochLength": 86400, "dataEncSize": 64 },
              "combinedDeployment": { "regServer": "localhost:9443", "lookupServers": ["localhost:9444", "localhost:9445"], "epochLength": 300, "combined": true } }
            """#.utf8
        ).write(to: URL(fileURLWithPath: path))
        let configuration = try TwoLevelConfiguration(contentsOfFile: path)
        #expect(configuration.standard.protocolConfiguration.epochLength == 86400)
        #expect(configuration.combined.protocolConfiguration.combined)
        try Data(
            #"{ "standardDeployment": { "regServer": "a:1", "lookupServers": ["b:1", "c:1"] }, "combinedDeployment": { "regServer": "d:1", "lookupServers": ["e:1", "f:1"], "combined": true } }"#
                .utf8
        )
        .write(to: URL(fileURLWithPath: path))
        #expect(throws: ConfigurationError.self) { try TwoLevelConfiguration(contentsOfFile: path) }
    }
}
