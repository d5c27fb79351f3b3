/// Arithmetic in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11B).
///
/// Bit i of a byte is the coefficient of x^i. Addition is XOR. This is the field Percy++'s
/// `GF2E` uses for DP5's IT-PIR, so the tables here equal the ones in Percy++ 1.0.0.
public enum GF256 {
    /// The reduction polynomial, including the x^8 term.
    public static let polynomial: UInt16 = 0x11B

    /// `exponentials[i] = 3^i`, doubled in length so `log a + log b` needs no reduction.
    private static let exponentials: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 512)
        var value: UInt8 = 1
        for power in 0..<255 {
            table[power] = value
            table[power + 255] = value
            value = multiplySlowly(value, 3)
        }
        return table
    }()

    private static let logarithms: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for power in 0..<255 { table[Int(exponentials[power])] = UInt8(power) }
        return table
    }()

    /// The full multiplication table, row-major: `multiplicationTable[a * 256 + b] = a · b`.
    ///
    /// 64 KiB; the original's multiply-accumulate kernel works row by row through it.
    public static let multiplicationTable: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256 * 256)
        for a in 1..<256 {
            for b in 1..<256 { table[a << 8 | b] = multiply(UInt8(a), UInt8(b)) }
        }
        return table
    }()

    /// `inverseTable[a]` is the multiplicative inverse of `a`; `inverseTable[0] = 0`.
    public static let inverseTable: [UInt8] = (0..<256).map { inverse(UInt8($0)) }

    /// The product `a · b`.
    @inline(__always)
    public static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        if a == 0 || b == 0 { return 0 }
        return exponentials[Int(logarithms[Int(a)]) + Int(logarithms[Int(b)])]
    }

    /// The multiplicative inverse of `a`, or 0 for 0 (Percy++'s convention).
    @inline(__always)
    public static func inverse(_ a: UInt8) -> UInt8 {
        if a == 0 { return 0 }
        return exponentials[255 - Int(logarithms[Int(a)])]
    }

    /// The quotient `a / b`; `b` must not be zero.
    @inline(__always)
    public static func divide(_ a: UInt8, _ b: UInt8) -> UInt8 {
        precondition(b != 0, "division by zero in GF(2^8)")
        return multiply(a, inverse(b))
    }

    /// Shift-and-add multiplication, used only to build the tables.
    private static func multiplySlowly(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var product: UInt16 = 0
        var shifted = UInt16(a)
        var multiplier = b
        while multiplier != 0 {
            if multiplier & 1 != 0 { product ^= shifted }
            shifted <<= 1
            if shifted & 0x100 != 0 { shifted ^= polynomial }
            multiplier >>= 1
        }
        return UInt8(product)
    }
}
