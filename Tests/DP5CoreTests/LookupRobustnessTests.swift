import Foundation
import Testing

@testable import DP5Core

@Suite("Lookups with bad input")
struct LookupRobustnessTests {
    let epoch = Epoch(788_929)

    func sampleMetadata() throws -> Metadata { try Metadata(rawRepresentation: Vector.file("epoch-788929.meta.bin")) }
    func sampleResponder(data: [UInt8] = Vector.file("epoch-788929.data.bin")) throws -> LookupResponder {
        try LookupResponder(metadata: sampleMetadata(), data: Data(data))
    }

    @Test func responderErrorBytes() throws {
        let responder = try sampleResponder()
        let server = epoch.wireBytes
        #expect(responder.respond(to: [0xFF] + epoch.previous.wireBytes).bytes == [0x00] + server)
        #expect(responder.respond(to: [0xFE] + epoch.previous.wireBytes + [1, 0]).bytes == [0x80] + server)
        // The original answers a download for another epoch with 00, not 80.
        #expect(responder.respond(to: [0xFD] + epoch.previous.wireBytes).bytes == [0x00] + server)
        #expect(responder.respond(to: [0xFE] + epoch.wireBytes + [1, 0, 7]).bytes == [0x80] + server)
        #expect(responder.respond(to: [0x42] + epoch.wireBytes).bytes == [0x00] + server)
        #expect(responder.respond(to: [0xFF, 0, 0]).bytes == [0x00] + server)
        #expect(responder.respond(to: []).bytes == [0x00] + server)
        #expect(responder.respond(to: [0xFE] + epoch.wireBytes + [0, 0]).bytes == [0x81] + server)
        #expect(throws: DP5Error(.malformedDatabase, "")) { try sampleResponder(data: [1, 2, 3]) }
    }

    @Test func emptyDatabase() throws {
        var generator = SystemRandomNumberGenerator()
        let empty = try EpochDatabase.build(records: [], epoch: epoch, configuration: .default, using: &generator)
        let responder = try LookupResponder(metadata: empty.metadata, data: Data())
        #expect(
            responder.respond(to: [0xFE] + epoch.wireBytes + [1, 0] + [UInt8](repeating: 1, count: 7)).bytes == [0x80]
                + epoch.wireBytes
        )
        #expect(responder.respond(to: [0xFD] + epoch.wireBytes).bytes == [0x82] + epoch.wireBytes)
        let lookup = try LookupClient(privateKey: .vectorUser("bob"))
            .prepareLookup(
                buddies: [DHPrivateKey.vectorUser("alice").publicKey],
                metadata: empty.metadata,
                parameters: LookupParameters(numberOfServers: 2, privacyLevel: 1)
            )
        #expect(lookup.method == .none && lookup.requests == [nil, nil])
        #expect(try lookup.complete(replies: [nil, nil]).presences.map(\.isOnline) == [false])
    }

    @Test func metadataReplyErrors() throws {
        #expect(throws: DP5Error(.metadataRefused, "")) {
            try LookupClient.metadata(fromReply: [0] + epoch.wireBytes, epoch: epoch)
        }
        #expect(throws: DP5Error(.malformedMetadata, "")) {
            try LookupClient.metadata(fromReply: [2, 0, 1], epoch: epoch)
        }
        #expect(throws: DP5Error(.metadataEpochMismatch, "")) {
            try LookupClient.metadata(fromReply: Vector.file("epoch-788929.meta.bin"), epoch: epoch.next)
        }
    }

    func downloadLookup() throws -> PreparedLookup {
        var generator = ScriptedRandomNumberGenerator([0, 0, 0, 0])
        return try LookupClient(privateKey: .vectorUser("bob")).prepareLookup(
            buddies: ["alice", "carol", "dave"].map { DHPrivateKey.vectorUser($0).publicKey },
            metadata: sampleMetadata(),
            parameters: LookupParameters(numberOfServers: 3, privacyLevel: 1),
            using: &generator
        )
    }

    @Test func malformedDownloadRepliesAreErrorsNotCrashes() throws {
        let lookup = try downloadLookup()
        let good = try sampleResponder().respond(to: lookup.requests[0]!).bytes
        let bad: [[UInt8]] = [
            [], [0x82], [0x82, 0, 0], [0x80] + epoch.wireBytes, [0x82] + epoch.next.wireBytes + good.dropFirst(5),
            Array(good.dropLast()), good + [0], [0x82] + epoch.wireBytes,
        ]
        for reply in bad {
            #expect(throws: DP5Error.self) { try lookup.complete(replies: [reply, nil, nil]) }
        }
        #expect(throws: DP5Error(.notEnoughReplies, "")) { try lookup.complete(replies: [nil, nil, nil]) }
        #expect(try lookup.complete(replies: [good, nil, nil]).presences.map(\.isOnline) == [true, true, false])
    }

    @Test func aDownloadWithARecordThatFailsToDecryptIsCorrupt() throws {
        // Alice's record for bob sits in slot 5 of bucket 63; corrupt one byte of its tag. Taking
        // bob for offline would be a silent wrong answer; the server's file is refused instead.
        let metadata = try sampleMetadata()
        var data = Vector.file("epoch-788929.data.bin")
        data[63 * metadata.bucketBytes + 6 * metadata.recordSize - 1] ^= 0x01
        let lookup = try downloadLookup()
        let reply = try sampleResponder(data: data).respond(to: lookup.requests[0]!).bytes
        do {
            _ = try lookup.complete(replies: [reply, nil, nil])
            Issue.record("a corrupted record was taken for an offline buddy")
        } catch let error as DP5Error {
            #expect(error.code == .malformedLookupReply && error.servers == [0], "\(error)")
        }
    }

    func pirLookup(servers: Int) throws -> PreparedLookup {
        try LookupClient(privateKey: .vectorUser("alice")).prepareLookup(
            buddies: [DHPrivateKey.vectorUser("bob").publicKey],
            metadata: sampleMetadata(),
            parameters: LookupParameters(numberOfServers: servers, privacyLevel: 1)
        )
    }

    @Test func oneLyingServerOfFourIsNamed() throws {
        let lookup = try pirLookup(servers: 4)
        #expect(lookup.method == .pir)
        let responder = try sampleResponder()
        var replies = lookup.requests.map { responder.respond(to: $0!).bytes }
        replies[2][9] ^= 0x55
        let result = try lookup.complete(replies: replies)
        #expect(result.faultyServers == [2])
        #expect(result.presences.first?.data == Array("B->A status 0003".utf8))
    }

    @Test func oneLyingServerOfThreeIsNamed() throws {
        // Two against one is no majority, but only the honest pair's reconstruction is a real
        // bucket. The liar changes the first ciphertext byte of every record: whichever record
        // is the buddy's, a reconstruction through the lie fails its decryption. (A change to a
        // hashed key alone is caught only when the changed key leaves the bucket, which a small
        // database's few buckets leave to chance; the lie is then refused, but not named.)
        let lookup = try pirLookup(servers: 3)
        let responder = try sampleResponder()
        var replies = lookup.requests.map { responder.respond(to: $0!).bytes }
        let recordSize = DP5Configuration.default.recordSize
        for index in stride(from: 5 + DP5Parameters.hashedKeyBytes, to: replies[0].count, by: recordSize) {
            replies[0][index] ^= 0x01
        }
        let result = try lookup.complete(replies: replies)
        #expect(result.faultyServers == [0] && result.isVerified)
        #expect(result.presences.first?.data == Array("B->A status 0003".utf8))
    }

    @Test func aLieAmongOnlyTPlusOneAnswersIsRefused() throws {
        let lookup = try pirLookup(servers: 2)
        let responder = try sampleResponder()
        var replies = lookup.requests.map { responder.respond(to: $0!).bytes }
        #expect(try lookup.complete(replies: replies).isVerified == false)
        for index in stride(from: 5, to: replies[1].count, by: DP5Configuration.default.recordSize) {
            replies[1][index] ^= 0x01
        }
        #expect(throws: DP5Error(.inconsistentReplies, "")) { try lookup.complete(replies: replies) }
    }

    @Test func refusedAndMalformedPIRRepliesCountAsFaulty() throws {
        let lookup = try pirLookup(servers: 4)
        let responder = try sampleResponder()
        var replies: [[UInt8]?] = lookup.requests.map { responder.respond(to: $0!).bytes }
        replies[0] = [0x80] + epoch.wireBytes
        replies[1] = [0x81, 0]
        let result = try lookup.complete(replies: replies)
        #expect(result.faultyServers == [0, 1])
        #expect(result.presences.first?.isOnline == true)
        replies[2] = nil
        #expect(throws: DP5Error(.notEnoughReplies, "")) { try lookup.complete(replies: replies) }
    }

    @Test func lookupRefusesTooManyBuddies() throws {
        let many = [DHPublicKey](repeating: DHPrivateKey.vectorUser("bob").publicKey, count: 101)
        #expect(throws: DP5Error(.tooManyBuddies, "")) {
            try LookupClient(privateKey: .vectorUser("alice"))
                .prepareLookup(
                    buddies: many,
                    metadata: sampleMetadata(),
                    parameters: LookupParameters(numberOfServers: 2, privacyLevel: 1)
                )
        }
    }

    @Test func lowOrderBuddyKeyIsOfflineNotAnError() throws {
        let zero = try DHPublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32))
        let lookup = try LookupClient(privateKey: .vectorUser("alice"))
            .prepareLookup(
                buddies: [zero],
                metadata: sampleMetadata(),
                parameters: LookupParameters(numberOfServers: 2, privacyLevel: 1)
            )
        let responder = try sampleResponder()
        let replies = lookup.requests.map { $0.map { responder.respond(to: $0).bytes } }
        #expect(try lookup.complete(replies: replies).presences.map(\.isOnline) == [false])
    }
}
