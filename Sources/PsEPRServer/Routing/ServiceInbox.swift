public import PsEPRCore

/// A built-in service's subscription: the events of its routes arrive on ``events``.
public final class ServiceInbox: Sendable, Hashable {
    public static func == (lhs: ServiceInbox, rhs: ServiceInbox) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// The service's name, for logs.
    public let name: String
    /// Whether the service's routes are leased on peers too, so that events published anywhere
    /// in the mesh reach it (the original's client-type routes: accounting, commands, peer
    /// configuration); server-only services (status, discovery) are not.
    public let propagates: Bool
    /// The events routed to the service. Bounded: a service that falls far behind loses the oldest.
    public let events: AsyncStream<Event>
    let continuation: AsyncStream<Event>.Continuation

    /// Creates an inbox.
    public init(name: String, propagates: Bool) {
        self.name = name
        self.propagates = propagates
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(256))
    }
}
