import Crypto
import Foundation

/// A fast cryptographically secure generator: AES-128 in counter mode under a key drawn from the
/// operating system's generator.
///
/// A PIR lookup draws a random coefficient per bucket per query per degree (millions of bytes on a
/// large database); asking the kernel for each 8 bytes would dominate the lookup. Every instance
/// draws its own key, so two instances never share a stream.
public struct SecureRandomNumberGenerator: RandomNumberGenerator {
    private let key = SymmetricKey(size: .bits128)
    private var counter: UInt64 = 0
    private var buffer: [UInt64] = []
    private var position = 0
    private static let wordsPerRefill = 512

    /// Creates a generator with a fresh key from the operating system.
    public init() {}

    public mutating func next() -> UInt64 {
        if position == buffer.count { refill() }
        defer { position += 1 }
        return buffer[position]
    }

    private mutating func refill() {
        counter += 1
        var nonceBytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { nonceBytes[4 + index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
        let zeros = [UInt8](repeating: 0, count: Self.wordsPerRefill * 8)
        // GCM's ciphertext of zeros is the AES-CTR keystream; the tag is discarded. The nonce is
        // unique per refill, so no keystream block repeats.
        let sealed = try! AES.GCM.seal(zeros, using: key, nonce: try! AES.GCM.Nonce(data: nonceBytes))
        buffer = sealed.ciphertext.withUnsafeBytes { raw in
            (0..<Self.wordsPerRefill).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) }
        }
        position = 0
    }
}

/// Draws bytes from a `RandomNumberGenerator`, using every byte of each 64-bit word in order
/// (least significant first).
///
/// All random choices of one protocol operation go through one `RandomBytes`, so a generator
/// that replays a fixed byte string reproduces the operation exactly; that is how the tests
/// reproduce the published test vectors.
struct RandomBytes {
    private var word: UInt64 = 0
    private var remaining = 0

    mutating func next(using generator: inout some RandomNumberGenerator) -> UInt8 {
        if remaining == 0 {
            word = generator.next()
            remaining = 8
        }
        let byte = UInt8(truncatingIfNeeded: word)
        word >>= 8
        remaining -= 1
        return byte
    }

    mutating func nextNonZero(using generator: inout some RandomNumberGenerator) -> UInt8 {
        while true {
            let byte = next(using: &generator)
            if byte != 0 { return byte }
        }
    }

    mutating func bytes(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        fill(&result, using: &generator)
        return result
    }

    mutating func fill(_ buffer: inout [UInt8], using generator: inout some RandomNumberGenerator) {
        for index in buffer.indices { buffer[index] = next(using: &generator) }
    }

    /// A uniformly distributed 32-bit value from 4 little-endian bytes.
    mutating func nextUInt32(using generator: inout some RandomNumberGenerator) -> UInt32 {
        var value: UInt32 = 0
        for shift in stride(from: 0, to: 32, by: 8) { value |= UInt32(next(using: &generator)) << UInt32(shift) }
        return value
    }
}
