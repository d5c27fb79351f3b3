import Crypto
import Testing

@testable import DP5Core

@Suite("Primitives against the published vectors")
struct PrimitiveVectorTests {
    let vectors = Vector.root

    @Test func multiplicationTableMatchesPercy() {
        #expect(GF256.multiplicationTable.sha256Hex == vectors["gf256"]["mult_table_sha256_rowmajor"].string)
        #expect(GF256.inverseTable.sha256Hex == vectors["gf256"]["inv_table_sha256"].string)
        #expect(GF256.inverse(0) == 0)
    }

    @Test func fieldSamples() {
        for sample in vectors["gf256"]["samples"].array {
            #expect(GF256.multiply(sample["a"].bytes[0], sample["b"].bytes[0]) == sample["a*b"].bytes[0])
        }
        let inverses = vectors["gf256"]["inverse_samples"]
        for key in inverses.keys {
            #expect(GF256.inverse([UInt8](hexString: key)![0]) == inverses[key].bytes[0])
        }
    }

    @Test func x25519KeysAndSecrets() throws {
        for name in ["alice", "bob", "carol", "dave"] {
            #expect(
                DHPrivateKey.vectorUser(name).publicKey.rawRepresentation
                    == vectors["x25519"]["keys"][name]["pub"].bytes
            )
        }
        let alice = DHPrivateKey.vectorUser("alice")
        let bob = DHPrivateKey.vectorUser("bob")
        let carol = DHPrivateKey.vectorUser("carol")
        #expect(try alice.sharedSecret(with: bob.publicKey) == vectors["x25519"]["shared_alice_bob"].bytes)
        #expect(try bob.sharedSecret(with: alice.publicKey) == vectors["x25519"]["shared_alice_bob"].bytes)
        #expect(try alice.sharedSecret(with: carol.publicKey) == vectors["x25519"]["shared_alice_carol"].bytes)
        #expect(try carol.sharedSecret(with: bob.publicKey) == vectors["x25519"]["shared_bob_carol"].bytes)
    }

    @Test func generatedKeysAreClamped() {
        var generator = SecureRandomNumberGenerator()
        for _ in 0..<20 {
            let key = DHPrivateKey.generate(using: &generator)
            #expect(key.rawRepresentation[0] & 7 == 0)
            #expect(key.rawRepresentation[31] & 0xC0 == 0x40)
        }
    }

    @Test func lowOrderPeerKeyIsRefused() throws {
        let zero = try DHPublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32))
        #expect(throws: DP5Error(.invalidKey, "")) { try DHPrivateKey.vectorUser("alice").sharedSecret(with: zero) }
    }

    @Test func pairwiseAndHashedKeys() throws {
        let epoch = Epoch(UInt32(vectors["config"]["next_epoch"].int))
        #expect(epoch.wireBytes == vectors["config"]["E_next_wire"].bytes)
        let alice = DHPrivateKey.vectorUser("alice")
        let bob = DHPrivateKey.vectorUser("bob")
        let secret = try alice.sharedSecret(with: bob.publicKey)
        for (registrant, name) in [(alice, "H1H2_alice_registers_for_bob"), (bob, "H1H2_bob_registers_for_alice")] {
            let keys = KeyDerivation.pairwiseKeys(epoch: epoch, registrant: registrant.publicKey, sharedSecret: secret)
            #expect(keys.sharedKey == vectors["hashes"][name]["K"].bytes)
            #expect(keys.dataKey == vectors["hashes"][name]["DK"].bytes)
        }
        let h3 = vectors["hashes"]["H3_of_K_ab"]
        #expect(KeyDerivation.hashedKey(epoch: epoch, sharedKey: h3["input"].bytes.suffix(10)) == h3["HK"].bytes)
        let h5 = vectors["hashes"]["H5_combined_placeholder"]
        #expect(KeyDerivation.combinedDataKey(epoch: epoch, blsPublicKey: h5["bls_pub"].bytes) == h5["DK"].bytes)
    }

    @Test func prfSamples() {
        for sample in vectors["prf_M"].array {
            let bucket = KeyDerivation.bucket(
                prfKey: sample["prfkey"].bytes,
                hashedKey: sample["x"].bytes,
                numberOfBuckets: UInt32(sample["num_buckets"].uint64)
            )
            #expect(UInt64(bucket) == sample["bucket"].uint64)
        }
    }

    @Test func bucketCountsUseSixtyFourBitArithmetic() {
        for row in vectors["num_buckets"].array {
            let count = EpochDatabase.numberOfBuckets(
                records: row["num_records"].int,
                recordSize: 10 + row["dataenc"].int
            )
            #expect(
                count == row["num_buckets"].uint64,
                "records \(row["num_records"].int), dataenc \(row["dataenc"].int)"
            )
        }
    }

    @Test func aeadVectors() {
        let aead = vectors["aead"]
        for name in ["enc_test_cpp_vector1", "enc_test_cpp_vector2", "with_aad"] {
            let vector = aead[name]
            let aad = name == "with_aad" ? vector["aad"].bytes : []
            let sealed = DataCipher.seal(vector["pt"].bytes, key: vector["key"].bytes, authenticating: aad)
            #expect(sealed == vector["out"].bytes, "\(name)")
            #expect(DataCipher.open(sealed, key: vector["key"].bytes, authenticating: aad) == vector["pt"].bytes)
            var tampered = sealed
            tampered[tampered.count - 1] ^= 1
            #expect(DataCipher.open(tampered, key: vector["key"].bytes, authenticating: aad) == nil)
        }
        #expect(DataCipher.open([1, 2, 3], key: [UInt8](repeating: 0, count: 16), authenticating: []) == nil)
    }

    @Test func epochArithmetic() throws {
        let configuration = DP5Configuration.default
        let time = Double(vectors["config"]["unix_time"].int)
        #expect(
            configuration.epoch(atSecondsSince1970: time).rawValue == UInt32(vectors["config"]["current_epoch"].int)
        )
        #expect(
            configuration.epoch(atSecondsSince1970: time).next.rawValue == UInt32(vectors["config"]["next_epoch"].int)
        )
        #expect(configuration.recordSize == vectors["config"]["record_len_client"].int)
        #expect(throws: DP5Error(.invalidConfiguration, "")) { try DP5Configuration(dataEncSize: 15) }
        #expect(throws: DP5Error(.invalidConfiguration, "")) { try DP5Configuration(epochLength: 0) }
        #expect(throws: DP5Error(.invalidConfiguration, "")) {
            try LookupParameters(numberOfServers: 3, privacyLevel: 3)
        }
    }
}
