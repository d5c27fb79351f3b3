import Foundation
import Testing

@testable import DP5Core

@Suite("Registration, epoch change and lookups against the published vectors")
struct ProtocolVectorTests {
    let vectors = Vector.root
    let configuration = DP5Configuration.default
    let nextEpoch = Epoch(UInt32(Vector.root["config"]["next_epoch"].int))

    func users(_ names: [String]) -> [String: DHPrivateKey] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, DHPrivateKey.vectorUser($0)) })
    }

    @Test func registrationMessagesAreByteExact() throws {
        for message in vectors["registration"]["messages"].array {
            let registrant = DHPrivateKey.vectorUser(message["registrant"].string)
            #expect(registrant.publicKey.rawRepresentation == message["registrant_pub"].bytes)
            let buddies = try message["buddies"].array.map {
                BuddyRegistration(
                    publicKey: try DHPublicKey(rawRepresentation: $0["buddy_pub"].bytes),
                    data: $0["plaintext"].bytes
                )
            }
            var generator = ScriptedRandomNumberGenerator(
                message["padding_records_in_generation_order"].array.flatMap(\.bytes)
            )
            let client = RegistrationClient(privateKey: registrant, configuration: configuration)
            let bytes = try client.registrationMessage(epoch: nextEpoch, buddies: buddies, using: &generator)
            #expect(generator.consumedExactly)
            #expect(bytes.count == message["message_len"].int)
            #expect(bytes == message["message"].bytes)

            let outcome = RegistrationProcessor(configuration: configuration).process(bytes, nextEpoch: nextEpoch)
            #expect(outcome.reply.rawRepresentation == message["server_reply"].bytes)
            #expect(outcome.storedRecords.sha256Hex == message["server_records_HK_ED_sha256"].string)
            try RegistrationClient.verifyReply(outcome.reply.rawRepresentation, epoch: nextEpoch)
        }
    }

    @Test func registrationRecordsMatchEachBuddy() throws {
        let message = vectors["registration"]["messages"][0]
        let records = message["message"].bytes
        for buddy in message["buddies"].array {
            let record = buddy["record_K_ED"].bytes
            #expect(stride(from: 4, to: records.count, by: 42).contains { Array(records[$0..<($0 + 42)]) == record })
            #expect(KeyDerivation.hashedKey(epoch: nextEpoch, sharedKey: buddy["K_H1"].bytes) == buddy["HK_H3"].bytes)
        }
    }

    @Test func serverErrorReplies() throws {
        let processor = RegistrationProcessor(configuration: configuration)
        let replies = vectors["registration"]["server_error_replies"]
        #expect(processor.process([0, 0], nextEpoch: nextEpoch).reply.rawRepresentation == replies["too_short"].bytes)
        #expect(
            processor.process(nextEpoch.previous.wireBytes, nextEpoch: nextEpoch).reply.rawRepresentation
                == replies["wrong_epoch"].bytes
        )
        #expect(
            processor.process(nextEpoch.wireBytes + [1, 2, 3], nextEpoch: nextEpoch).reply.rawRepresentation
                == replies["not_multiple_of_record"].bytes
        )
        #expect(
            processor.process(nextEpoch.wireBytes, nextEpoch: nextEpoch).reply.rawRepresentation
                == replies["zero_records_ok"].bytes
        )
        let tooMany = nextEpoch.wireBytes + [UInt8](repeating: 7, count: 101 * 42)
        #expect(processor.process(tooMany, nextEpoch: nextEpoch).reply.status == .malformedRecords)
        #expect(processor.process(tooMany, nextEpoch: nextEpoch).storedRecords.isEmpty)
    }

    @Test func registrationReplyErrorsOnTheClient() {
        #expect(throws: DP5Error(.malformedRegistrationReply, "")) {
            try RegistrationClient.verifyReply([0, 0], epoch: nextEpoch)
        }
        #expect(throws: DP5Error(.registrationRejected, "")) {
            try RegistrationClient.verifyReply(
                vectors["registration"]["server_error_replies"]["wrong_epoch"].bytes,
                epoch: nextEpoch
            )
        }
        #expect(throws: DP5Error(.registrationEpochMismatch, "")) {
            try RegistrationClient.verifyReply([0] + nextEpoch.next.wireBytes, epoch: nextEpoch)
        }
    }

    @Test func registrationClientRefusesBadInput() throws {
        let client = RegistrationClient(privateKey: DHPrivateKey.vectorUser("alice"), configuration: configuration)
        let bob = DHPrivateKey.vectorUser("bob").publicKey
        #expect(throws: DP5Error(.wrongDataLength, "")) {
            try client.registrationMessage(epoch: nextEpoch, buddies: [BuddyRegistration(publicKey: bob, data: [1])])
        }
        let many = Array(
            repeating: BuddyRegistration(publicKey: bob, data: [UInt8](repeating: 0, count: 16)),
            count: 101
        )
        #expect(throws: DP5Error(.tooManyBuddies, "")) {
            try client.registrationMessage(epoch: nextEpoch, buddies: many)
        }
    }

    /// The registration file of the sample epoch: the three messages' records, in order.
    func registrationFile() throws -> [UInt8] {
        let processor = RegistrationProcessor(configuration: configuration)
        return vectors["registration"]["messages"].array.flatMap {
            processor.process($0["message"].bytes, nextEpoch: nextEpoch).storedRecords
        }
    }

    @Test func epochChangeIsByteExact() throws {
        let change = vectors["epoch_change"]
        let records = try registrationFile()
        #expect(records.count / 42 == change["registration_file_records"].int)
        #expect(records.sha256Hex == change["regfile_sha256"].string)

        var generator = ScriptedRandomNumberGenerator(
            change["candidate_prfkeys_trace"].array.flatMap { $0["prfkey"].bytes }
        )
        let database = try EpochDatabase.build(
            records: records,
            epoch: nextEpoch,
            configuration: configuration,
            using: &generator
        )
        #expect(generator.consumedExactly)
        #expect(database.metadata.prfKey == change["chosen_prfkey"].bytes)
        #expect(database.metadata.numberOfBuckets == UInt32(change["num_buckets"].int))
        #expect(database.metadata.bucketSize == UInt32(change["bucket_size"].int))
        #expect(database.metadata.rawRepresentation == change["metadata_v2"].bytes)
        #expect(database.metadata.rawRepresentation == Vector.file("epoch-788929.meta.bin"))
        #expect(database.data.count == change["data_len"].int)
        #expect(database.data.sha256Hex == change["data_sha256"].string)
        #expect(database.data == Vector.file("epoch-788929.data.bin"))

        let example = change["example_bucket"]
        let start = example["index"].int * database.metadata.bucketBytes
        #expect(Array(database.data[start..<(start + database.metadata.bucketBytes)]) == example["bytes_in_file"].bytes)
    }

    @Test func epochChangeRemovesWholeDuplicateRecords() throws {
        let records = try registrationFile()
        var first = ScriptedRandomNumberGenerator(
            vectors["epoch_change"]["candidate_prfkeys_trace"].array.flatMap { $0["prfkey"].bytes }
        )
        var second = first
        let once = try EpochDatabase.build(
            records: records,
            epoch: nextEpoch,
            configuration: configuration,
            using: &first
        )
        let twice = try EpochDatabase.build(
            records: records + records,
            epoch: nextEpoch,
            configuration: configuration,
            using: &second
        )
        #expect(once == twice)
    }

    @Test func emptyEpochHasEmptyDataFile() throws {
        var generator = SecureRandomNumberGenerator()
        let database = try EpochDatabase.build(
            records: [],
            epoch: nextEpoch,
            configuration: configuration,
            using: &generator
        )
        #expect(database.metadata.bucketSize == 0)
        #expect(database.metadata.numberOfBuckets == 7)
        #expect(database.data.isEmpty)
        #expect(throws: DP5Error(.malformedRegistrationStore, "")) {
            try EpochDatabase.build(records: [1, 2, 3], epoch: nextEpoch, configuration: configuration)
        }
    }

    @Test func smallLayoutOfTheLaterCode() throws {
        let small = vectors["epoch_change_small_layouts"]
        let records = small["records_sorted"].array.flatMap(\.bytes)
        let metadata = Metadata(
            combined: false,
            epoch: nextEpoch,
            dataEncSize: 32,
            epochLength: 1800,
            numberOfBuckets: UInt32(small["num_buckets"].int),
            bucketSize: UInt32(small["bucket_size"].int),
            prfKey: small["prfkey"].bytes
        )
        #expect(metadata.rawRepresentation == small["metadata_v2_for_same"].bytes)
        #expect(try Metadata(rawRepresentation: metadata.rawRepresentation) == metadata)
        let order = EpochDatabase.uniqueSortedRecords(records, recordSize: 42)
        let assignments = order.map { UInt32(metadata.bucket(forHashedKey: records[$0..<($0 + 10)])) }
        let data = EpochDatabase.layout(records: records, order: order, assignments: assignments, metadata: metadata)
        #expect(data.sha256Hex == small["data_v2_later_code_descending_sha256"].string)
        #expect(data == small["data_v2_hex"].bytes)
        let bucket = small["example_multi_record_bucket"].int * metadata.bucketBytes
        #expect(Array(data[bucket..<(bucket + metadata.bucketBytes)]) == small["example_bucket_v2_later_code"].bytes)
    }

    @Test func metadataParsingRejectsBadInput() {
        let good = vectors["epoch_change"]["metadata_v2"].bytes
        #expect(throws: DP5Error(.malformedMetadata, "")) { try Metadata(rawRepresentation: Array(good.dropLast())) }
        #expect(throws: DP5Error(.malformedMetadata, "")) { try Metadata(rawRepresentation: [1] + good.dropFirst()) }
        // Suite byte: 0 standard, 2 the BLS12-381 combined suite; the original's BN254 suite (1)
        // and anything else are refused.
        for suite: UInt8 in [1, 3, 0xFF] {
            var other = good
            other[1] = suite
            #expect(throws: DP5Error(.malformedMetadata, "")) { try Metadata(rawRepresentation: other) }
        }
        var combined = good
        combined[1] = 2
        #expect((try? Metadata(rawRepresentation: combined))?.combined == true)
        #expect((try? Metadata(rawRepresentation: combined))?.rawRepresentation == combined)
        var noBuckets = good
        noBuckets.replaceSubrange(14..<18, with: [0, 0, 0, 0])
        #expect(throws: DP5Error(.malformedMetadata, "")) { try Metadata(rawRepresentation: noBuckets) }
        // Sizes whose products overflow, or describe more than a terabyte, are refused (a lying
        // server could otherwise crash a client or make it buffer without end).
        var huge = good
        huge.replaceSubrange(6..<10, with: [0xff, 0xff, 0xff, 0xff])
        huge.replaceSubrange(14..<22, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        #expect(throws: DP5Error(.malformedMetadata, "")) { try Metadata(rawRepresentation: huge) }
        var large = good
        large.replaceSubrange(14..<22, with: [0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
        #expect(throws: DP5Error(.malformedMetadata, "")) { try Metadata(rawRepresentation: large) }
    }

    func sampleResponder() throws -> LookupResponder {
        try LookupResponder(
            metadata: Metadata(rawRepresentation: Vector.file("epoch-788929.meta.bin")),
            data: Data(Vector.file("epoch-788929.data.bin"))
        )
    }

    @Test func lookupByDownload() throws {
        let lookup = vectors["lookup_download"]
        let responder = try sampleResponder()
        let request = LookupClient.metadataRequest(epoch: nextEpoch)
        #expect(request == lookup["metadata_request"].bytes)
        let metadataReply = responder.respond(to: request).bytes
        #expect(metadataReply == lookup["metadata_reply"].bytes)
        let metadata = try LookupClient.metadata(fromReply: metadataReply, epoch: nextEpoch)

        let names = lookup["results"].array.map { $0["buddy"].string }
        let buddies = names.map { DHPrivateKey.vectorUser($0).publicKey }
        let parameters = try LookupParameters(
            numberOfServers: lookup["num_servers"].int,
            privacyLevel: lookup["privacy_level"].int
        )
        var generator = ScriptedRandomNumberGenerator([2, 0, 0, 0])
        let prepared = try LookupClient(privateKey: .vectorUser(lookup["client"].string))
            .prepareLookup(buddies: buddies, metadata: metadata, parameters: parameters, using: &generator)
        #expect(prepared.method == .download)
        #expect(prepared.requests == [nil, nil, lookup["request_to_chosen_server"].bytes])

        let reply = responder.respond(to: prepared.requests[2]!).bytes
        #expect(reply.count == lookup["reply_len"].int)
        #expect(reply.sha256Hex == lookup["reply_sha256"].string)
        let result = try prepared.complete(replies: [nil, nil, reply])
        #expect(result.faultyServers.isEmpty)
        for (presence, expected) in zip(result.presences, lookup["results"].array) {
            #expect(presence.isOnline == expected["online"].bool)
            #expect(presence.data == (expected["plaintext"].isNull ? nil : Array(expected["plaintext"].string.utf8)))
        }
    }

    /// The injected randomness of the PIR lookup vector: evaluation points, multipliers, coefficients.
    func pirScript(_ lookup: Vector) -> [UInt8] {
        lookup["server_eval_points_alpha"].array.flatMap(\.bytes) + lookup["random_multipliers"].array.flatMap(\.bytes)
            + lookup["poly_coeffs_c1_per_bucket"].bytes
    }

    @Test func lookupByPIR() throws {
        let lookup = vectors["lookup_pir"]
        let responder = try sampleResponder()
        let metadata = responder.metadata
        let parameters = try LookupParameters(
            numberOfServers: lookup["num_servers"].int,
            privacyLevel: lookup["privacy_level_t"].int
        )
        var generator = ScriptedRandomNumberGenerator(pirScript(lookup))
        let prepared = try LookupClient(privateKey: .vectorUser(lookup["client"].string))
            .prepareLookup(
                buddies: [DHPrivateKey.vectorUser(lookup["buddy"].string).publicKey],
                metadata: metadata,
                parameters: parameters,
                using: &generator
            )
        #expect(generator.consumedExactly)
        #expect(prepared.method == .pir)
        #expect(prepared.requests == lookup["requests"].array.map(\.bytes))

        let replies = prepared.requests.map { responder.respond(to: $0!).bytes }
        #expect(replies == lookup["responses"].array.map(\.bytes))
        let result = try prepared.complete(replies: replies)
        #expect(result.faultyServers.isEmpty)
        #expect(result.presences.first?.data == Array(lookup["plaintext"].string.utf8))

        // One silent server still leaves t + 1 answers.
        let withSilentServer = try prepared.complete(replies: [nil, replies[1], replies[2]])
        #expect(withSilentServer.presences.first?.data == Array(lookup["plaintext"].string.utf8))
    }

    @Test func lagrangeCoefficientsOfTheVectors() {
        let lookup = vectors["lookup_pir"]
        let points = lookup["interpolation_servers"].array.map { lookup["server_eval_points_alpha"][$0.int].bytes[0] }
        #expect(
            PIRQuery.lagrangeCoefficients(points: points, at: 0) == lookup["lagrange_at_0"].array.map { $0.bytes[0] }
        )
    }

    @Test(arguments: ["no_randomisation", "percy_randomisation"])
    func pirTiny(variant: String) throws {
        let tiny = vectors["pir_tiny"]
        let steps = tiny[variant]
        let blocks = tiny["db_blocks"].array.map(\.bytes)
        let database = try PIRDatabase(
            numberOfBlocks: tiny["num_blocks"].int,
            blockSize: tiny["block_size"].int,
            bytes: Data(blocks.joined())
        )
        let script =
            tiny["alphas"].array.flatMap(\.bytes) + steps["random_multipliers"].array.flatMap(\.bytes)
            + steps["polys_f_j(x)=c0+c1*x"].array.map { $0[1].bytes[0] }
        var generator = ScriptedRandomNumberGenerator(script)
        let query = PIRQuery(
            blocks: [tiny["wanted_block"].int],
            numberOfBlocks: database.numberOfBlocks,
            blockSize: database.blockSize,
            parameters: try LookupParameters(numberOfServers: tiny["servers"].int, privacyLevel: tiny["t"].int),
            using: &generator
        )
        #expect(query.serverQueries == steps["percy_wire_per_server"].array.map(\.bytes))
        let answers = try query.serverQueries.map {
            PIRServer.answer(
                try PIRQueryBatch(percyWire: $0[...], numberOfBlocks: database.numberOfBlocks),
                database: database
            )
        }
        #expect(answers == steps["responses"].array.map(\.bytes))
        let decoded = try query.decode(replies: answers)
        #expect(decoded.blocks == [steps["recovered"].bytes])
        #expect(decoded.faultyServers.isEmpty)
    }
}
