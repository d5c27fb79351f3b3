public import PsEPRCore

/// A channel and payload namespace leased by this server's clients, which the server in turn
/// leases on its peers.
public struct Interest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The leased channel.
    public let channel: ChannelName
    /// The namespace filter, lower-cased (`nil`: any).
    public let namespace: String?

    /// Creates an interest.
    public init(channel: ChannelName, namespace: String?) {
        self.channel = channel
        self.namespace = namespace?.lowercased()
    }

    public static func < (lhs: Interest, rhs: Interest) -> Bool {
        (lhs.channel.rawValue, lhs.namespace ?? "") < (rhs.channel.rawValue, rhs.namespace ?? "")
    }

    public var description: String { namespace.map { "\(channel) (\($0))" } ?? "\(channel)" }
}
