import CBLS12381

/// Why a compressed BLS12-381 point was refused.
public enum BLSPointError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Not 48 (G1) or 96 (G2) bytes.
    case wrongLength(Int)
    /// Wrong flag bits or a coordinate not below p (a non-canonical encoding).
    case malformedEncoding
    /// No point of the curve has this x coordinate.
    case notOnCurve
    /// On the curve but outside the prime-order subgroup.
    case notInSubgroup
    /// The point at infinity, which no key or signature may be.
    case identity

    public var description: String {
        switch self {
        case .wrongLength(let count): "wrong length (\(count) bytes)"
        case .malformedEncoding: "malformed encoding"
        case .notOnCurve: "not on the curve"
        case .notInSubgroup: "not in the prime-order subgroup"
        case .identity: "the identity"
        }
    }

    init(status: bls_status) {
        switch status {
        case BLS_ERR_NOT_ON_CURVE: self = .notOnCurve
        case BLS_ERR_NOT_IN_SUBGROUP: self = .notInSubgroup
        case BLS_ERR_IDENTITY: self = .identity
        default: self = .malformedEncoding
        }
    }
}

/// A point of G1 (order r), held decoded; the identity is allowed only where stated.
public struct G1Point: Sendable, Hashable {
    /// The C target's affine words (x, y, identity flag).
    let words: [UInt64]

    init(words: [UInt64]) {
        precondition(words.count == Int(BLS_G1_WORDS))
        self.words = words
    }

    /// The standard generator g1.
    public static let generator: G1Point = {
        var words = [UInt64](repeating: 0, count: Int(BLS_G1_WORDS))
        bls_g1_generator(&words)
        return G1Point(words: words)
    }()

    /// Decodes a 48-byte ZCash compressed point, checking the curve and the subgroup.
    ///
    /// - Throws: ``BLSPointError``, including ``BLSPointError/identity`` for the point at infinity.
    public init(compressed bytes: some Collection<UInt8>) throws(BLSPointError) {
        let input = Array(bytes)
        guard input.count == Int(BLS_G1_COMPRESSED_BYTES) else { throw .wrongLength(input.count) }
        var words = [UInt64](repeating: 0, count: Int(BLS_G1_WORDS))
        let status = bls_g1_decompress(&words, input)
        guard status == BLS_OK else { throw BLSPointError(status: status) }
        self.words = words
    }

    /// The 48-byte compressed form.
    public var compressed: [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(BLS_G1_COMPRESSED_BYTES))
        bls_g1_compress(&out, words)
        return out
    }

    /// `scalar · self`, constant time in the scalar (32 bytes big-endian).
    public func multiplied(by scalar: [UInt8]) -> G1Point {
        precondition(scalar.count == Int(BLS_SCALAR_BYTES))
        var out = [UInt64](repeating: 0, count: Int(BLS_G1_WORDS))
        bls_g1_mul(&out, words, scalar)
        return G1Point(words: out)
    }

    /// Whether this is the point at infinity.
    public var isIdentity: Bool { words[Int(BLS_G1_WORDS) - 1] != 0 }
}

/// A point of G2 (order r) on the twist over Fp2.
public struct G2Point: Sendable, Hashable {
    let words: [UInt64]

    init(words: [UInt64]) {
        precondition(words.count == Int(BLS_G2_WORDS))
        self.words = words
    }

    /// The standard generator g2.
    public static let generator: G2Point = {
        var words = [UInt64](repeating: 0, count: Int(BLS_G2_WORDS))
        bls_g2_generator(&words)
        return G2Point(words: words)
    }()

    /// Decodes a 96-byte ZCash compressed point (x.c1 first), checking the curve and the subgroup
    /// (psi(Q) = [x]Q).
    ///
    /// - Throws: ``BLSPointError``, including ``BLSPointError/identity`` for the point at infinity.
    public init(compressed bytes: some Collection<UInt8>) throws(BLSPointError) {
        let input = Array(bytes)
        guard input.count == Int(BLS_G2_COMPRESSED_BYTES) else { throw .wrongLength(input.count) }
        var words = [UInt64](repeating: 0, count: Int(BLS_G2_WORDS))
        let status = bls_g2_decompress(&words, input)
        guard status == BLS_OK else { throw BLSPointError(status: status) }
        self.words = words
    }

    /// The 96-byte compressed form.
    public var compressed: [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(BLS_G2_COMPRESSED_BYTES))
        bls_g2_compress(&out, words)
        return out
    }

    /// The affine coordinates x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1, 48 bytes big-endian each.
    public var affineCoordinates: [UInt8] {
        var out = [UInt8](repeating: 0, count: 192)
        bls_g2_coordinates(&out, words)
        return out
    }

    /// `scalar · self`, constant time in the scalar (32 bytes big-endian).
    public func multiplied(by scalar: [UInt8]) -> G2Point {
        precondition(scalar.count == Int(BLS_SCALAR_BYTES))
        var out = [UInt64](repeating: 0, count: Int(BLS_G2_WORDS))
        bls_g2_mul(&out, words, scalar)
        return G2Point(words: out)
    }

    /// Whether this is the point at infinity.
    public var isIdentity: Bool { words[Int(BLS_G2_WORDS) - 1] != 0 }
}

/// The Miller-loop lines of one fixed G2 point, so that many pairings with it skip the G2 side.
public struct PreparedG2Point: Sendable {
    let lines: [UInt64]

    /// Precomputes the lines of `point`.
    public init(_ point: G2Point) {
        var lines = [UInt64](repeating: 0, count: Int(BLS_G2_PREPARED_WORDS))
        bls_g2_prepare(&lines, point.words)
        self.lines = lines
    }
}
