/// Where an event came from, which decides where it may go.
public enum EventOrigin: Sendable {
    /// A client of this server or one of its services: to local subscribers and to peers.
    case local
    /// A peer server: in a full mesh to local subscribers only, never to another peer (the
    /// one-hop rule that keeps it free of loops and duplicates); a relayed event in any other
    /// layout also goes on to the other peers that lease it.
    case peer
}
