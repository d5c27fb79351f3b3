/// Which subscribers an event goes to: the leases of one server, as a trie of channel segments.
///
/// Matching rules:
/// - **Channel**: a lease on `/a/b/` matches events to `/a/b/` and to every channel below it
///   (`/a/b/c/`), not to `/a/` or `/a/bc/`. A lease on `/` matches everything.
/// - **Namespace**: a lease with no namespace filter matches any payload; otherwise the event's
///   payload namespace must equal it, ignoring case.
/// - **To-service / to-instance**: an event with a `to/service` reaches only leases held by that
///   service (ignoring case); with a `to/instance` as well, only that instance of it.
/// - **Expiry**: a lease whose expiry is not after `now` matches nothing, even before
///   ``removeExpired(now:)`` takes it out.
/// - **At most once**: a subscriber holding several matching leases is returned once.
///
/// A lease is keyed by `(subscriber, identifier)`: registering a known key renews it (new expiry,
/// possibly a new channel or filter); a new identifier adds a lease.
public struct RouteTable<Subscriber: Hashable & Sendable, Instant: InstantProtocol & Sendable>: Sendable {
    /// One lease.
    public struct Lease: Sendable, Hashable {
        /// Who receives matching events.
        public var subscriber: Subscriber
        /// The subscriber's name for the lease.
        public var identifier: String
        /// The leased channel.
        public var channel: ChannelName
        /// Payload namespace filter; `nil` for any.
        public var namespaceFilter: String?
        /// The service the subscriber is authenticated as (for `to/service`).
        public var service: String?
        /// The subscriber's instance (for `to/instance`).
        public var instance: String?
        /// When the lease ends.
        public var expires: Instant

        /// Creates a lease.
        public init(
            subscriber: Subscriber, identifier: String, channel: ChannelName, namespaceFilter: String? = nil,
            service: String? = nil, instance: String? = nil, expires: Instant
        ) {
            self.subscriber = subscriber
            self.identifier = identifier
            self.channel = channel
            self.namespaceFilter = namespaceFilter
            self.service = service
            self.instance = instance
            self.expires = expires
        }

        func matches(namespace: String?, toService: String?, toInstance: String?, now: Instant) -> Bool {
            guard expires > now else { return false }
            if let filter = namespaceFilter {
                guard let namespace, namespace.caseInsensitiveCompare(filter) else { return false }
            }
            if let toService {
                guard let service, service.caseInsensitiveCompare(toService) else { return false }
                if let toInstance, instance != toInstance { return false }
            }
            return true
        }
    }

    private struct Key: Hashable, Sendable {
        let subscriber: Subscriber
        let identifier: String
    }

    private struct Node: Sendable {
        var children: [Substring: Node] = [:]
        var leases: [Key: Lease] = [:]
        var isEmpty: Bool { children.isEmpty && leases.isEmpty }
    }

    private var root = Node()
    private var channels: [Key: ChannelName] = [:]
    private var identifiers: [Subscriber: Set<String>] = [:]

    /// Creates an empty table.
    public init() {}

    /// Number of leases held.
    public var count: Int { channels.count }

    /// Adds `lease`, or renews the lease with the same subscriber and identifier.
    public mutating func upsert(_ lease: Lease) {
        let key = Key(subscriber: lease.subscriber, identifier: lease.identifier)
        if let old = channels[key], old != lease.channel { _ = remove(key, on: old) }
        channels[key] = lease.channel
        identifiers[lease.subscriber, default: []].insert(lease.identifier)
        Self.update(&root, along: lease.channel.segments[...]) { $0.leases[key] = lease }
    }

    /// Removes one lease; returns it if it was held.
    @discardableResult
    public mutating func remove(subscriber: Subscriber, identifier: String) -> Lease? {
        let key = Key(subscriber: subscriber, identifier: identifier)
        guard let channel = channels[key] else { return nil }
        return remove(key, on: channel)
    }

    /// Removes every lease of `subscriber` (a connection that closed); returns them.
    @discardableResult
    public mutating func removeAll(subscriber: Subscriber) -> [Lease] {
        (identifiers[subscriber] ?? []).compactMap { remove(subscriber: subscriber, identifier: $0) }
    }

    /// Removes every lease that has expired by `now`; returns them.
    @discardableResult
    public mutating func removeExpired(now: Instant) -> [Lease] {
        var expired: [Lease] = []
        Self.collect(root) { lease in if lease.expires <= now { expired.append(lease) } }
        for lease in expired { remove(subscriber: lease.subscriber, identifier: lease.identifier) }
        return expired
    }

    /// The subscribers an event goes to, each once, in no particular order.
    public func subscribers(for channel: ChannelName, namespace: String?, toService: String? = nil, toInstance: String? = nil, now: Instant) -> [Subscriber] {
        var found: [Subscriber] = []
        var seen = Set<Subscriber>()
        var node: Node? = root
        var segments = channel.segments[...]
        while let current = node {
            for lease in current.leases.values
            where lease.matches(namespace: namespace, toService: toService, toInstance: toInstance, now: now) && seen.insert(lease.subscriber).inserted {
                found.append(lease.subscriber)
            }
            guard let segment = segments.popFirst() else { break }
            node = current.children[segment]
        }
        return found
    }

    /// Every lease, for status reports.
    public var leases: [Lease] {
        var all: [Lease] = []
        Self.collect(root) { all.append($0) }
        return all
    }

    /// The leases of one subscriber.
    public func leases(of subscriber: Subscriber) -> [Lease] {
        (identifiers[subscriber] ?? []).compactMap { identifier in
            let key = Key(subscriber: subscriber, identifier: identifier)
            return channels[key].flatMap { Self.node(root, along: $0.segments[...])?.leases[key] }
        }
    }

    private mutating func remove(_ key: Key, on channel: ChannelName) -> Lease? {
        channels[key] = nil
        identifiers[key.subscriber]?.remove(key.identifier)
        if identifiers[key.subscriber]?.isEmpty == true { identifiers[key.subscriber] = nil }
        var removed: Lease?
        Self.update(&root, along: channel.segments[...]) { removed = $0.leases.removeValue(forKey: key) }
        return removed
    }

    /// Applies `change` to the node at `path`, creating nodes on the way and pruning empty ones.
    private static func update(_ node: inout Node, along path: ArraySlice<Substring>, _ change: (inout Node) -> Void) {
        guard let segment = path.first else {
            change(&node)
            return
        }
        var child = node.children[segment] ?? Node()
        update(&child, along: path.dropFirst(), change)
        node.children[segment] = child.isEmpty ? nil : child
    }

    private static func node(_ node: Node, along path: ArraySlice<Substring>) -> Node? {
        guard let segment = path.first else { return node }
        return node.children[segment].flatMap { Self.node($0, along: path.dropFirst()) }
    }

    private static func collect(_ node: Node, _ body: (Lease) -> Void) {
        node.leases.values.forEach(body)
        for child in node.children.values { collect(child, body) }
    }
}

extension String {
    fileprivate func caseInsensitiveCompare(_ other: String) -> Bool {
        self == other || self.lowercased() == other.lowercased()
    }
}
