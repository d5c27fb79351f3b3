#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Array where Element == UInt8 {
    /// Appends `value` as 4 big-endian bytes.
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }
}

extension Collection where Element == UInt8 {
    /// Reads 4 big-endian bytes starting `offset` elements from the start.
    func bigEndianUInt32(atOffset offset: Int) -> UInt32 {
        var value: UInt32 = 0
        var index = self.index(startIndex, offsetBy: offset)
        for _ in 0..<4 {
            value = value << 8 | UInt32(self[index])
            index = self.index(after: index)
        }
        return value
    }

    /// Reads 8 little-endian bytes from the start.
    var littleEndianUInt64: UInt64 {
        var value: UInt64 = 0
        for (shift, byte) in zip(stride(from: 0, to: 64, by: 8), self) {
            value |= UInt64(byte) << UInt64(shift)
        }
        return value
    }
}

/// Unsigned lexicographic order of two byte strings (`memcmp` order, shorter first on a tie).
@inline(__always)
func lexicographicallyPrecedes(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
    let common = Swift.min(lhs.count, rhs.count)
    if common > 0, let l = lhs.baseAddress, let r = rhs.baseAddress {
        let order = memcmp(l, r, common)
        if order != 0 { return order < 0 }
    }
    return lhs.count < rhs.count
}
