/// The inner loop of IT-PIR: `destination[i] ^= coefficient · source[i]` over GF(2^8).
///
/// Everything a lookup server spends its time on goes through ``multiplyAccumulate(_:source:into:count:)``.
/// This is the portable implementation (a 256-byte row of the multiplication table per
/// coefficient, as Percy++ does); faster kernels must produce exactly its results.
public enum GF256Kernel {
    /// Adds `coefficient · source[i]` into `destination[i]` for `i < count`.
    ///
    /// `source` and `destination` must not overlap.
    @inlinable
    public static func multiplyAccumulate(
        _ coefficient: UInt8,
        source: UnsafePointer<UInt8>,
        into destination: UnsafeMutablePointer<UInt8>,
        count: Int
    ) {
        switch coefficient {
        case 0:
            return
        case 1:
            xor(source: source, into: destination, count: count)
        default:
            GF256.multiplicationTable.withUnsafeBufferPointer { table in
                let row = table.baseAddress! + Int(coefficient) << 8
                for index in 0..<count {
                    destination[index] ^= row[Int(source[index])]
                }
            }
        }
    }

    @usableFromInline
    static func xor(source: UnsafePointer<UInt8>, into destination: UnsafeMutablePointer<UInt8>, count: Int) {
        var index = 0
        let words = count / 8
        let sourceRaw = UnsafeRawPointer(source)
        let destinationRaw = UnsafeMutableRawPointer(destination)
        while index < words {
            let offset = index * 8
            let value =
                sourceRaw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                ^ destinationRaw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            destinationRaw.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
            index += 1
        }
        for tail in (words * 8)..<count { destination[tail] ^= source[tail] }
    }

    /// Multiplies every byte of `bytes` by `coefficient` in place.
    public static func scale(_ bytes: inout [UInt8], by coefficient: UInt8) {
        guard coefficient != 1 else { return }
        GF256.multiplicationTable.withUnsafeBufferPointer { table in
            let row = table.baseAddress! + Int(coefficient) << 8
            for index in bytes.indices { bytes[index] = row[Int(bytes[index])] }
        }
    }
}
