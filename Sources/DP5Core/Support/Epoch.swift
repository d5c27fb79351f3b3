/// A DP5 epoch number: `floor(unix_time / epochLength)`.
///
/// On the wire an epoch is 4 bytes, big-endian.
public struct Epoch: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The epoch number.
    public var rawValue: UInt32

    /// Creates an epoch from its number.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Creates an epoch from its number.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// Reads an epoch from 4 big-endian bytes at the start of `bytes`.
    ///
    /// - Returns: `nil` if fewer than 4 bytes are given.
    public init?(wireBytes bytes: some Collection<UInt8>) {
        guard bytes.count >= 4 else { return nil }
        self.rawValue = bytes.bigEndianUInt32(atOffset: 0)
    }

    /// The 4-byte big-endian wire form.
    public var wireBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4)
        bytes.appendBigEndian(rawValue)
        return bytes
    }

    /// The epoch after this one (wrapping after 2^32 - 1, as the original's 32-bit counter).
    public var next: Epoch { Epoch(rawValue &+ 1) }

    /// The epoch before this one.
    public var previous: Epoch { Epoch(rawValue &- 1) }

    public static func < (lhs: Epoch, rhs: Epoch) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}

/// A source of wall-clock time for epoch arithmetic.
///
/// Servers and clients take one of these instead of reading the system clock, so tests can
/// place themselves at any instant and move time forward deterministically.
public protocol EpochClock: Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    func secondsSince1970() -> Double
}

/// The system's real-time clock.
public struct SystemEpochClock: EpochClock {
    public init() {}

    public func secondsSince1970() -> Double {
        RealTime.secondsSince1970()
    }
}
