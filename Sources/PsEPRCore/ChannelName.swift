/// A channel name: `/` followed by segments, each ending in `/`. `/` alone is the root.
///
/// ```
/// channel = "/" *( segment "/" )
/// segment = 1*( ALPHA / DIGIT / "." / "-" / "_" / "~" / ":" / "@" )
/// ```
///
/// Channels form a tree: a lease on `/a/b/` covers `/a/b/` and every channel below it, such as
/// `/a/b/c/`, but not `/a/` or `/a/bc/`; the trailing slash is what keeps `/a/b/` from matching
/// `/a/bc/`. Names are case-sensitive.
public struct ChannelName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The name, with its leading and trailing slash.
    public let rawValue: String

    /// The root channel `/`, which covers every channel.
    public static let root = ChannelName(validated: "/")

    /// The most segments a channel may have.
    public static let maximumSegments = 64
    /// The longest channel name accepted.
    public static let maximumLength = 1024

    /// Validates a channel name.
    ///
    /// - Throws: ``PsEPRError/Code/invalidChannel`` if it breaks the grammar.
    public init(_ text: some StringProtocol) throws {
        let name = String(text)
        let utf8 = name.utf8
        guard utf8.count <= Self.maximumLength, utf8.first == UInt8(ascii: "/"), utf8.last == UInt8(ascii: "/") else {
            throw PsEPRError(.invalidChannel, "a channel begins and ends with \"/\": \(name.prefix(80))")
        }
        // One pass: every segment non-empty and made of allowed bytes, at most 64 of them.
        var segments = 0
        var segmentLength = 0
        for byte in utf8.dropFirst() {
            if byte == UInt8(ascii: "/") {
                guard segmentLength > 0 else {
                    throw PsEPRError(.invalidChannel, "a channel has an empty segment: \(name.prefix(80))")
                }
                segments += 1
                segmentLength = 0
            } else {
                guard Self.isSegmentByte(byte) else {
                    throw PsEPRError(
                        .invalidChannel,
                        "channel segments are letters, digits and . - _ ~ : @: \(name.prefix(80))"
                    )
                }
                segmentLength += 1
            }
        }
        guard segments <= Self.maximumSegments else {
            throw PsEPRError(.invalidChannel, "a channel has at most \(Self.maximumSegments) segments")
        }
        self.rawValue = name
    }

    private init(validated: String) { self.rawValue = validated }

    private static func isSegmentByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"),
            UInt8(ascii: "@"):
            true
        default: false
        }
    }

    /// The segments, root first: `/a/b/` → `["a", "b"]`.
    public var segments: [Substring] {
        rawValue.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// Whether a lease on this channel covers `other`: `other` is this channel or below it.
    public func covers(_ other: ChannelName) -> Bool { other.rawValue.hasPrefix(rawValue) }

    public static func < (lhs: ChannelName, rhs: ChannelName) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { rawValue }
}
