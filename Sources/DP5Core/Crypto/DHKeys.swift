import Crypto

/// A user's long-term X25519 private key.
///
/// Generation follows the original: 32 random bytes, clamped (`k[0] &= 248; k[31] &= 127;
/// k[31] |= 64`); the clamped bytes are what is stored.
public struct DHPrivateKey: Sendable, Hashable {
    /// The 32 clamped key bytes. Secret: never log or print them.
    public let rawRepresentation: [UInt8]
    /// The matching public key, `X25519(k, 9)`.
    public let publicKey: DHPublicKey

    /// Creates a key from 32 stored bytes (clamped or not; X25519 clamps again).
    ///
    /// - Throws: ``DP5Error/Code/invalidKey`` if the length is not 32.
    public init(rawRepresentation bytes: some Collection<UInt8>) throws {
        guard bytes.count == DP5Parameters.keyBytes else {
            throw DP5Error(.invalidKey, "a private key is \(DP5Parameters.keyBytes) bytes, got \(bytes.count)")
        }
        let key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: Array(bytes))
        self.rawRepresentation = Array(bytes)
        self.publicKey = try DHPublicKey(rawRepresentation: Array(key.publicKey.rawRepresentation))
    }

    /// Generates a fresh key pair.
    public static func generate(using generator: inout some RandomNumberGenerator) -> DHPrivateKey {
        var random = RandomBytes()
        var bytes = random.bytes(DP5Parameters.keyBytes, using: &generator)
        bytes[0] &= 248
        bytes[31] &= 127
        bytes[31] |= 64
        return try! DHPrivateKey(rawRepresentation: bytes)
    }

    /// Generates a fresh key pair from a cryptographically secure generator.
    public static func generate() -> DHPrivateKey {
        var generator = SecureRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// The X25519 shared secret with `peer`.
    ///
    /// - Throws: ``DP5Error/Code/invalidKey`` if `peer` is a low-order point (the secret would be
    ///   all zeros). The original accepted such keys; only a malicious peer produces one.
    func sharedSecret(with peer: DHPublicKey) throws -> [UInt8] {
        let refusal = DP5Error(.invalidKey, "public key \(peer) gives no usable Diffie-Hellman secret")
        let secret: [UInt8]
        do {
            let key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: rawRepresentation)
            let peerKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer.rawRepresentation)
            secret = try key.sharedSecretFromKeyAgreement(with: peerKey).withUnsafeBytes { Array($0) }
        } catch {
            throw refusal
        }
        // Some backends return the all-zero secret of a low-order point instead of failing.
        // Folding every byte keeps the check independent of where a non-zero byte sits.
        guard secret.reduce(0, |) != 0 else { throw refusal }
        return secret
    }

    // Equality and hashing use the public key only, so a private key never feeds a hash table's
    // timing with secret bytes.
    public static func == (lhs: DHPrivateKey, rhs: DHPrivateKey) -> Bool { lhs.publicKey == rhs.publicKey }
    public func hash(into hasher: inout Hasher) { hasher.combine(publicKey) }
}

/// A user's long-term X25519 public key: 32 bytes, which is also the user's identity to buddies.
public struct DHPublicKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The 32 key bytes.
    public let rawRepresentation: [UInt8]

    /// Creates a key from its 32 bytes.
    ///
    /// - Throws: ``DP5Error/Code/invalidKey`` if the length is not 32.
    public init(rawRepresentation bytes: some Collection<UInt8>) throws {
        guard bytes.count == DP5Parameters.keyBytes else {
            throw DP5Error(.invalidKey, "a public key is \(DP5Parameters.keyBytes) bytes, got \(bytes.count)")
        }
        self.rawRepresentation = Array(bytes)
    }

    public static func < (lhs: DHPublicKey, rhs: DHPublicKey) -> Bool {
        lhs.rawRepresentation.lexicographicallyPrecedes(rhs.rawRepresentation)
    }

    /// The first 8 bytes in hex: enough to tell keys apart in logs and output.
    public var description: String { rawRepresentation.prefix(8).hexString + "…" }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        for byte in self {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: characters, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Parses lowercase or uppercase hexadecimal; `nil` on odd length or a non-hex character.
    public init?(hexString: some StringProtocol) {
        let utf8 = Array(hexString.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }
}
