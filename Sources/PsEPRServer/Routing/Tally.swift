/// Where an event entered the server, for the metrics.
public enum EventSource: String, Sendable, Hashable, CaseIterable {
    /// A client connection.
    case client
    /// A OneEvent document.
    case oneEvent = "oneevent"
    /// A peer server.
    case peer
    /// The server's own services (heartbeats, discovery, reports).
    case server
}
/// A small enum whose cases number 0, 1, … for a ``Tally``.
public protocol TallyKey: CaseIterable, Sendable {
    var tallyIndex: Int { get }
}
/// A count per case of a ``TallyKey``, kept in an array indexed by case: bumped for every event
/// under the router's lock, so no hashing per count.
public struct Tally<Key: TallyKey>: Sendable, Hashable {
    private var counts = [Int](repeating: 0, count: Key.allCases.count)

    public init() {}

    public subscript(key: Key) -> Int {
        get { counts[key.tallyIndex] }
        set { counts[key.tallyIndex] = newValue }
    }
}
extension EventSource: TallyKey {
    public var tallyIndex: Int {
        switch self {
        case .client: 0
        case .oneEvent: 1
        case .peer: 2
        case .server: 3
        }
    }
}
extension ConnectionKind: TallyKey {
    public var tallyIndex: Int {
        switch self {
        case .client: 0
        case .oneEvent: 1
        case .peer: 2
        }
    }
}
/// The kinds of connection a server accepts, for the metrics.
public enum ConnectionKind: String, Sendable, Hashable, CaseIterable {
    case client
    case oneEvent = "oneevent"
    case peer
}
