import Crypto

/// The keys a registrant and a buddy share for one epoch: K (the record's lookup key before
/// hashing) and DK (the AES-128 key of the record's data).
struct PairwiseKeys: Sendable, Hashable {
    /// K, 10 bytes.
    let sharedKey: [UInt8]
    /// DK, 16 bytes.
    let dataKey: [UInt8]
}

/// The hash functions of DP5 (spec §3.3–§3.6).
enum KeyDerivation {
    /// H1/H2: `T = SHA-256(0x00 ‖ E ‖ Pk ‖ s)`, `K = T[0..<10]`, `DK = T[16..<32]`.
    ///
    /// `Pk` is the public key of the registrant, the user whose presence the record announces;
    /// so K(A→B) differs from K(B→A) although both use the same secret.
    static func pairwiseKeys(epoch: Epoch, registrant: DHPublicKey, sharedSecret: [UInt8]) -> PairwiseKeys {
        var hash = SHA256()
        hash.update(data: [0x00])
        hash.update(data: epoch.wireBytes)
        hash.update(data: registrant.rawRepresentation)
        hash.update(data: sharedSecret)
        let digest = Array(hash.finalize())
        return PairwiseKeys(sharedKey: Array(digest[0..<10]), dataKey: Array(digest[16..<32]))
    }

    /// H3: `HK = SHA-256(0x01 ‖ E ‖ K)[0..<10]`.
    static func hashedKey(epoch: Epoch, sharedKey: some Collection<UInt8>) -> [UInt8] {
        var hash = SHA256()
        hash.update(data: [0x01])
        hash.update(data: epoch.wireBytes)
        hash.update(data: Array(sharedKey))
        return Array(hash.finalize().prefix(DP5Parameters.hashedKeyBytes))
    }

    /// H4 (combined mode): `HK = SHA-256(0x02 ‖ GT element)[0..<10]`.
    static func combinedHashedKey(pairingValue: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: [0x02] + pairingValue).prefix(DP5Parameters.hashedKeyBytes))
    }

    /// H5 (combined mode): `DK = SHA-256(0x03 ‖ E ‖ BLS public key)[0..<16]`.
    static func combinedDataKey(epoch: Epoch, blsPublicKey: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: [0x03] + epoch.wireBytes + blsPublicKey).prefix(DP5Parameters.dataKeyBytes))
    }

    /// The PRF M: `LE64(SHA-256(key ‖ x)[0..<8]) mod numberOfBuckets`; fewer than one bucket
    /// counts as one.
    static func bucket(prfKey: [UInt8], hashedKey: some Collection<UInt8>, numberOfBuckets: UInt32) -> UInt32 {
        var hash = SHA256()
        hash.update(data: prfKey)
        hash.update(data: Array(hashedKey))
        let value = hash.finalize().withUnsafeBytes { $0.prefix(8).littleEndianUInt64 }
        return UInt32(value % UInt64(max(numberOfBuckets, 1)))
    }
}

/// Encryption of a record's data: AES-128-GCM with a 12-byte all-zero nonce and the tag appended.
///
/// The zero nonce is safe because every data key encrypts exactly one message: DK is unique per
/// (epoch, ordered pair of users).
enum DataCipher {
    private static let zeroNonce = try! AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12))

    /// `C ‖ tag`, `plaintext.count + 16` bytes.
    static func seal(_ plaintext: [UInt8], key: [UInt8], authenticating aad: [UInt8]) -> [UInt8] {
        let box = try! AES.GCM.seal(plaintext, using: SymmetricKey(data: key), nonce: zeroNonce, authenticating: aad)
        return Array(box.ciphertext) + Array(box.tag)
    }

    /// The plaintext, or `nil` if the tag does not verify.
    static func open(_ sealed: some Collection<UInt8>, key: [UInt8], authenticating aad: [UInt8]) -> [UInt8]? {
        guard sealed.count >= DP5Parameters.tagBytes else { return nil }
        let bytes = Array(sealed)
        let split = bytes.count - DP5Parameters.tagBytes
        guard
            let box = try? AES.GCM.SealedBox(nonce: zeroNonce, ciphertext: bytes[..<split], tag: bytes[split...]),
            let plaintext = try? AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: aad)
        else { return nil }
        return Array(plaintext)
    }
}
