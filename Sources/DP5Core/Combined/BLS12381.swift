import CBLS12381
import Crypto

/// The BLS12-381 operations DP5's combined mode needs (docs/dp5-combined.md).
public enum BLS12381 {
    /// Bytes of a GT element: 12 Fp coefficients of 48 bytes, in the order c0.b0.a0, c0.b0.a1, …, c1.b2.a1.
    public static let gtBytes = Int(BLS_GT_BYTES)

    /// RFC 9380 §5.3.1 expand_message_xmd with SHA-256.
    ///
    /// - Precondition: `dst` is at most 255 bytes and `length` at most 8160 (255 blocks).
    public static func expandMessageXMD(_ message: [UInt8], dst: [UInt8], length: Int) -> [UInt8] {
        precondition(dst.count <= 255 && length <= 255 * 32 && length > 0)
        let blocks = (length + 31) / 32
        let dstPrime = dst + [UInt8(dst.count)]
        var first = SHA256()
        first.update(data: [UInt8](repeating: 0, count: 64))
        first.update(data: message)
        first.update(data: [UInt8(length >> 8), UInt8(length & 0xFF), 0])
        first.update(data: dstPrime)
        let b0 = Array(first.finalize())
        var previous = Array(SHA256.hash(data: b0 + [1] + dstPrime))
        var output = previous
        for index in 2...max(2, blocks) where index <= blocks {
            let mixed = zip(b0, previous).map { $0 ^ $1 }
            previous = Array(SHA256.hash(data: mixed + [UInt8(index)] + dstPrime))
            output += previous
        }
        return Array(output.prefix(length))
    }

    /// hash_to_curve with suite BLS12381G2_XMD:SHA-256_SSWU_RO_ (RFC 9380 §8.8.2).
    public static func hashToG2(_ message: [UInt8], dst: [UInt8]) -> G2Point {
        let uniform = expandMessageXMD(message, dst: dst, length: Int(BLS_HASH_UNIFORM_BYTES))
        var words = [UInt64](repeating: 0, count: Int(BLS_G2_WORDS))
        bls_hash_to_g2(&words, uniform)
        return G2Point(words: words)
    }

    /// The optimal ate pairing e(p, q), as GT bytes.
    public static func pairing(_ p: G1Point, _ q: G2Point) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: gtBytes)
        bls_pairing(&out, p.words, q.words)
        return out
    }

    /// e(p, q) for a prepared q.
    public static func pairing(_ p: G1Point, _ q: PreparedG2Point) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: gtBytes)
        bls_pairing_prepared(&out, p.words, q.lines)
        return out
    }

    /// `element^scalar` in GT (for tests); `nil` when `element` is not 12 canonical coefficients.
    public static func gtPower(_ element: [UInt8], scalar: [UInt8]) -> [UInt8]? {
        precondition(element.count == gtBytes && scalar.count == Int(BLS_SCALAR_BYTES))
        var out = [UInt8](repeating: 0, count: gtBytes)
        guard bls_gt_pow(&out, element, scalar) == 1 else { return nil }
        return out
    }

    /// Whether 32 big-endian bytes are a usable private key: 0 < scalar < r.
    public static func isValidScalar(_ scalar: [UInt8]) -> Bool {
        scalar.count == Int(BLS_SCALAR_BYTES) && bls_scalar_is_valid(scalar) == 1
    }
}
