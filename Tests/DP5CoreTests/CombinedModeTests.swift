import Foundation
import Testing

@testable import DP5Core

/// Combined mode end to end in memory: registration messages, the registration server's σ
/// checks and hashed keys, the epoch database, and lookups by PIR and by download.
@Suite("Combined mode")
struct CombinedModeTests {
    static let configuration = try! DP5Configuration(epochLength: 60, dataEncSize: 32, combined: true)
    static let parameters = try! LookupParameters(numberOfServers: 3, privacyLevel: 1)

    static func data(_ index: Int) -> [UInt8] { (0..<16).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0) } }

    @Test func registrationStoresTheKeyABuddyComputesFromThePublicKey() throws {
        var generator = SeededGenerator(seed: 1)
        let key = BLSPrivateKey.generate(using: &generator)
        let epoch = Epoch(1000)
        let message = try CombinedRegistrationClient(privateKey: key, configuration: Self.configuration)
            .registrationMessage(epoch: epoch, data: Self.data(1))
        #expect(message.count == 4 + 96 + 32)
        let result = CombinedRegistrationProcessor(configuration: Self.configuration).process(message, nextEpoch: epoch)
        #expect(result.outcome.reply.status == .accepted)
        #expect(result.signatureError == nil)
        let record = result.outcome.storedRecords
        #expect(record.count == Self.configuration.recordSize)
        // H4(e(g1, σ)) = H4(e(P, H_G2(E))).
        #expect(Array(record.prefix(10)) == CombinedEpochHash(epoch: epoch).hashedKey(for: key.publicKey))
    }

    @Test func badMessagesGetTheirStatus() throws {
        var generator = SeededGenerator(seed: 2)
        let key = BLSPrivateKey.generate(using: &generator)
        let epoch = Epoch(5)
        let processor = CombinedRegistrationProcessor(configuration: Self.configuration)
        let good = try CombinedRegistrationClient(privateKey: key, configuration: Self.configuration)
            .registrationMessage(epoch: epoch, data: Self.data(2))
        #expect(processor.process([0, 0], nextEpoch: epoch).outcome.reply.status == .messageTooShort)
        #expect(processor.process(good, nextEpoch: Epoch(6)).outcome.reply.status == .wrongEpoch)
        #expect(processor.process(good + [0], nextEpoch: epoch).outcome.reply.status == .malformedRecords)
        #expect(processor.process(Array(good.dropLast()), nextEpoch: epoch).outcome.reply.status == .malformedRecords)
    }

    static let badSignatures: [(String, BLSPointError)] = [
        ("80" + String(repeating: "0", count: 92) + "01" + String(repeating: "0", count: 94) + "06", .notOnCurve),
        ("a0" + String(repeating: "0", count: 92) + "01" + String(repeating: "0", count: 94) + "01", .notInSubgroup),
        ("c0" + String(repeating: "0", count: 190), .identity),
        ("ff" + String(repeating: "f", count: 190), .malformedEncoding),
        (String(repeating: "0", count: 192), .malformedEncoding),
    ]

    @Test(arguments: badSignatures)
    func aBadSignatureIsRefusedWithStatus4(sigma: String, error: BLSPointError) {
        let epoch = Epoch(9)
        let message = epoch.wireBytes + [UInt8](hexString: sigma)! + [UInt8](repeating: 0xAB, count: 32)
        let result = CombinedRegistrationProcessor(configuration: Self.configuration).process(message, nextEpoch: epoch)
        #expect(result.outcome.reply.status == .refusedSignature)
        #expect(result.outcome.reply.rawRepresentation == [0x04] + epoch.wireBytes)
        #expect(result.outcome.storedRecords.isEmpty)
        #expect(result.signatureError == error)
    }

    @Test func batchProcessingKeepsMessageOrder() async throws {
        var generator = SeededGenerator(seed: 3)
        let epoch = Epoch(77)
        let keys = (0..<6).map { _ in BLSPrivateKey.generate(using: &generator) }
        var messages = try keys.enumerated().map { index, key in
            try CombinedRegistrationClient(privateKey: key, configuration: Self.configuration).registrationMessage(
                epoch: epoch,
                data: Self.data(index)
            )
        }
        messages[3][5] ^= 0xFF  // σ damaged
        let processor = CombinedRegistrationProcessor(configuration: Self.configuration)
        let batch = await processor.processBatch(messages, nextEpoch: epoch, concurrency: 2)
        #expect(batch == messages.map { processor.process($0, nextEpoch: epoch) })
        #expect(batch[3].outcome.reply.status == .refusedSignature)
    }

    /// A small deployment: every registrant's record is found by every buddy, by a download (all
    /// buddies at once) and by PIR (one buddy at a time), and users who did not register are offline.
    @Test func lookupsFindOnlineBuddiesAndNoOthers() throws {
        var generator = SeededGenerator(seed: 4)
        let epoch = Epoch(42)
        let users = (0..<40).map { _ in BLSPrivateKey.generate(using: &generator) }
        let online = Set((0..<40).filter { $0 % 4 != 1 })
        let processor = CombinedRegistrationProcessor(configuration: Self.configuration)
        var records: [UInt8] = []
        for index in online.sorted() {
            let message = try CombinedRegistrationClient(privateKey: users[index], configuration: Self.configuration)
                .registrationMessage(epoch: epoch, data: Self.data(index))
            records += processor.process(message, nextEpoch: epoch).outcome.storedRecords
        }
        let database = try EpochDatabase.build(
            records: records,
            epoch: epoch,
            configuration: Self.configuration,
            using: &generator
        )
        #expect(database.metadata.combined)
        #expect(database.metadata.rawRepresentation[1] == 0x02)
        let responder = try LookupResponder(metadata: database.metadata, data: Data(database.data))
        let hash = CombinedEpochHash(epoch: epoch)
        func lookUp(_ indices: [Int]) throws -> CombinedLookupResult {
            let lookup = try CombinedLookupClient().prepareLookup(
                buddies: indices.map { users[$0].publicKey },
                metadata: database.metadata,
                parameters: Self.parameters,
                epochHash: hash,
                using: &generator
            )
            let replies = lookup.requests.map { request in request.map { responder.respond(to: $0).bytes } }
            return try lookup.completeCombined(replies: replies)
        }
        let everyone = try lookUp(Array(0..<40))
        #expect(everyone.method == .download)
        for (index, presence) in everyone.presences.enumerated() {
            #expect(presence.publicKey == users[index].publicKey)
            #expect(presence.data == (online.contains(index) ? Self.data(index) : nil), "user \(index)")
        }
        for index in [0, 1, 2, 39] {
            let single = try lookUp([index])
            #expect(single.method == .pir)
            #expect(single.presences.map(\.data) == [online.contains(index) ? Self.data(index) : nil], "user \(index)")
        }
    }

    @Test func aCombinedLookupRefusesAStandardDatabase() throws {
        var generator = SeededGenerator(seed: 5)
        let standard = try DP5Configuration(epochLength: 60, dataEncSize: 32)
        let database = try EpochDatabase.build(records: [], epoch: Epoch(1), configuration: standard, using: &generator)
        #expect(throws: DP5Error(.configurationMismatch, "")) {
            try CombinedLookupClient().prepareLookup(
                buddies: [],
                metadata: database.metadata,
                parameters: Self.parameters
            )
        }
    }
}
