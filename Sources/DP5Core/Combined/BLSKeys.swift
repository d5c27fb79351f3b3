/// A user's BLS12-381 public key for combined mode: P = x · g1, 48 bytes compressed.
public struct BLSPublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The 48-byte compressed form (the ZCash/IETF serialisation).
    public let rawRepresentation: [UInt8]
    /// The decoded point.
    public let point: G1Point

    /// Decodes and checks a public key.
    ///
    /// - Throws: ``DP5Error/Code/invalidKey`` for a wrong length, a point off the curve or
    ///   outside G1, or the identity.
    public init(rawRepresentation bytes: some Collection<UInt8>) throws {
        let input = Array(bytes)
        do {
            self.point = try G1Point(compressed: input)
        } catch {
            throw DP5Error(.invalidKey, "a BLS public key must be a 48-byte compressed G1 point; this one is \(error)")
        }
        self.rawRepresentation = input
    }

    init(point: G1Point) {
        self.point = point
        self.rawRepresentation = point.compressed
    }

    public static func == (lhs: BLSPublicKey, rhs: BLSPublicKey) -> Bool {
        lhs.rawRepresentation == rhs.rawRepresentation
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawRepresentation) }

    /// The key in lowercase hex.
    public var description: String { rawRepresentation.hexString }
}

/// A user's BLS12-381 private key: a scalar 0 < x < r, 32 bytes big-endian.
public struct BLSPrivateKey: Sendable, Hashable {
    /// The 32 scalar bytes. Secret: never log or print them.
    public let rawRepresentation: [UInt8]
    /// P = x · g1.
    public let publicKey: BLSPublicKey

    /// Creates a key from 32 stored bytes.
    ///
    /// - Throws: ``DP5Error/Code/invalidKey`` unless the bytes are a scalar in [1, r - 1].
    public init(rawRepresentation bytes: some Collection<UInt8>) throws {
        let scalar = Array(bytes)
        guard BLS12381.isValidScalar(scalar) else {
            throw DP5Error(.invalidKey, "a BLS private key is 32 bytes big-endian, a scalar between 1 and r - 1")
        }
        self.rawRepresentation = scalar
        self.publicKey = BLSPublicKey(point: G1Point.generator.multiplied(by: scalar))
    }

    /// Generates a key: 32 random bytes, drawn again until they are a valid scalar (about half
    /// of all draws are, as r is just under 2^255).
    public static func generate(using generator: inout some RandomNumberGenerator) -> BLSPrivateKey {
        var random = RandomBytes()
        while true {
            let candidate = random.bytes(32, using: &generator)
            if let key = try? BLSPrivateKey(rawRepresentation: candidate) { return key }
        }
    }

    /// Generates a key from a cryptographically secure generator.
    public static func generate() -> BLSPrivateKey {
        var generator = SecureRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// σ = x · H_G2(E): a BLS signature on the epoch under ``CombinedEpochHash/domainSeparationTag``.
    public func epochSignature(_ epochHash: CombinedEpochHash) -> G2Point {
        epochHash.point.multiplied(by: rawRepresentation)
    }

    public static func == (lhs: BLSPrivateKey, rhs: BLSPrivateKey) -> Bool {
        lhs.rawRepresentation == rhs.rawRepresentation
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawRepresentation) }
}
