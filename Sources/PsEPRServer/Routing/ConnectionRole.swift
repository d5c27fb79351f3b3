/// What is at the other end of a connection.
public enum ConnectionRole: String, Sendable, Hashable {
    /// A client (the XMPP-like port).
    case client
    /// A peer server (the LeasePeer port).
    case peer
}
