/// A connection's identity in the router.
public struct SessionID: Hashable, Sendable, CustomStringConvertible {
    let value: UInt64
    public var description: String { "session-\(value)" }
}
/// Where the router delivers: a connection's outbound queue or a built-in service's inbox.
enum Destination: Hashable, Sendable {
    case connection(OutboundQueue)
    case service(ServiceInbox)

    /// Whether this is a peer link.
    var isPeer: Bool {
        if case .connection(let queue) = self { queue.role == .peer } else { false }
    }
}
