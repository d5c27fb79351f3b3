extension EventRouter {
    /// Counters for status reports.
    public struct Statistics: Sendable, Hashable {
        /// Events routed (not counting lease operations).
        public var eventsRouted = 0
        /// Deliveries queued to subscribers.
        public var deliveries = 0
        /// Deliveries dropped: over a subscriber's byte budget after its stall time ran out, or
        /// lost with a slow consumer's connection.
        public var dropped = 0
        /// Events routed by where they came from (together, ``eventsRouted``).
        public var eventsBySource = Tally<EventSource>()
        /// Connections closed with a stream error for taking no bytes within the write deadline.
        public var slowConsumerDisconnects = 0
        /// Times a publisher's reads were paused because a subscriber it fed passed its
        /// high-water mark (the publisher is read again once that subscriber drains).
        public var stalls = 0
        /// Times a subscriber took nothing for its stall time, so its publishers were let go on.
        public var stallTimeouts = 0
        /// Client logins accepted and refused (wrong password, no credentials).
        public var loginsAccepted = 0
        public var loginsRefused = 0
        /// Connections accepted by kind, and client connections refused at `maximumConnections`.
        public var connectionsAccepted = Tally<ConnectionKind>()
        public var connectionsRefused = 0
    }
}
