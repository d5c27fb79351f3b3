import Foundation
import Testing

@testable import DP5Core

@Suite("A lookup server's checks of a database, and what a client bounds")
struct DatabaseCheckTests {
    let epoch = Epoch(788_929)
    func metadata() throws -> Metadata { try Metadata(rawRepresentation: Vector.file("epoch-788929.meta.bin")) }

    @Test func theOriginalsDatabasePassesAndDoctoredOnesFail() throws {
        let metadata = try metadata()
        let data = Vector.file("epoch-788929.data.bin")
        try EpochDatabase.verify(metadata: metadata, data: data)
        // Bucket size 0 with the real file, a wrong PRF key, a moved record, a dropped record.
        var empty = metadata
        empty.bucketSize = 0
        #expect(throws: DP5Error.self) { try EpochDatabase.verify(metadata: empty, data: data) }
        var otherKey = metadata
        otherKey.prfKey = [UInt8](repeating: 7, count: 8)
        #expect(throws: DP5Error.self) { try EpochDatabase.verify(metadata: otherKey, data: data) }
        // A record of bucket 1 copied into bucket 0's first slot.
        var moved = data
        let record = metadata.recordSize
        let source = try #require(
            stride(from: metadata.bucketBytes, to: 2 * metadata.bucketBytes, by: record).first { start in
                data[start..<(start + record)].contains { $0 != 0 }
            }
        )
        moved.replaceSubrange(0..<record, with: data[source..<(source + record)])
        #expect(throws: DP5Error.self) { try EpochDatabase.verify(metadata: metadata, data: moved) }
        var fewerBuckets = metadata
        fewerBuckets.numberOfBuckets -= 1
        let truncated = Array(data.prefix(fewerBuckets.dataFileSize))
        #expect(throws: DP5Error.self) { try EpochDatabase.verify(metadata: fewerBuckets, data: truncated) }
        // Built here, any size: passes.
        var generator = SystemRandomNumberGenerator()
        for count in [0, 1, 17, 400] {
            let records = (0..<(count * DP5Configuration.default.recordSize)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            let database = try EpochDatabase.build(
                records: records,
                epoch: epoch,
                configuration: .default,
                using: &generator
            )
            try EpochDatabase.verify(metadata: database.metadata, data: database.data)
        }
    }

    @Test func digestRequestsAndReplyLimits() throws {
        let metadata = try metadata()
        let responder = try LookupResponder(metadata: metadata, data: Data(Vector.file("epoch-788929.data.bin")))
        let digest = responder.respond(to: LookupRequest.digest(epoch).rawRepresentation).bytes
        #expect(digest.count == 37 && digest[0] == LookupResponder.digestStatus)
        #expect(
            responder.respond(to: LookupRequest.digest(epoch.next).rawRepresentation).bytes == [0x00] + epoch.wireBytes
        )
        // More than 100 queries in one request are refused, so no request can ask for a huge reply.
        let many =
            [0xFE] + epoch.wireBytes + [101, 0] + [UInt8](repeating: 0, count: 101 * Int(metadata.numberOfBuckets))
        #expect(responder.respond(to: many).bytes == [0x80] + epoch.wireBytes)

        let client = LookupClient(privateKey: .vectorUser("bob"))
        let parameters = try LookupParameters(numberOfServers: 3, privacyLevel: 1)
        let one = try client.prepareLookup(
            buddies: [DHPrivateKey.vectorUser("alice").publicKey],
            metadata: metadata,
            parameters: parameters
        )
        #expect(one.method == .pir)
        #expect(one.replyLimits == Array(repeating: 5 + metadata.bucketBytes, count: 3))
    }
}
