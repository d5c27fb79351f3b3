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
        /// Matches events whatever their `to/service` (a peer server's lease: the peer filters
        /// for its own subscribers).
        public var matchesEveryAddressee: Bool

        /// Creates a lease.
        public init(
            subscriber: Subscriber,
            identifier: String,
            channel: ChannelName,
            namespaceFilter: String? = nil,
            service: String? = nil,
            instance: String? = nil,
            expires: Instant,
            matchesEveryAddressee: Bool = false
        ) {
            self.matchesEveryAddressee = matchesEveryAddressee
            self.subscriber = subscriber
            self.identifier = identifier
            self.channel = channel
            self.namespaceFilter = namespaceFilter
            self.service = service
            self.instance = instance
            self.expires = expires
        }

        @inlinable
        func matches(namespace: String?, toService: String?, toInstance: String?, now: Instant) -> Bool {
            guard expires > now else { return false }
            if let filter = namespaceFilter {
                guard let namespace, namespace.equalIgnoringCase(filter) else { return false }
            }
            if let toService, !matchesEveryAddressee {
                guard let service, service.equalIgnoringCase(toService) else { return false }
                if let toInstance, instance != toInstance { return false }
            }
            return true
        }
    }

    @usableFromInline
    struct Key: Hashable, Sendable {
        @usableFromInline let subscriber: Subscriber
        @usableFromInline let identifier: String

        @usableFromInline
        init(subscriber: Subscriber, identifier: String) {
            self.subscriber = subscriber
            self.identifier = identifier
        }
    }

    /// One channel segment's node. Its leases sit in an array (scanned on every lookup) with an
    /// index by key (for renewals and releases).
    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var children: [Substring: Node] = [:]
        @usableFromInline var entries: [Lease] = []
        var positions: [Key: Int] = [:]
        var isEmpty: Bool { children.isEmpty && entries.isEmpty }

        @usableFromInline init() {}

        subscript(key: Key) -> Lease? {
            get { positions[key].map { entries[$0] } }
            set {
                if let position = positions[key] {
                    if let newValue {
                        entries[position] = newValue
                    } else {
                        // Swap-remove keeps the array dense.
                        let last = entries.removeLast()
                        positions[key] = nil
                        if position < entries.count {
                            entries[position] = last
                            positions[Key(subscriber: last.subscriber, identifier: last.identifier)] = position
                        }
                    }
                } else if let newValue {
                    positions[key] = entries.count
                    entries.append(newValue)
                }
            }
        }

        mutating func removeValue(forKey key: Key) -> Lease? {
            let old = self[key]
            self[key] = nil
            return old
        }
    }

    @usableFromInline var root = Node()
    private var channels: [Key: ChannelName] = [:]
    private var identifiers: [Subscriber: Set<String>] = [:]
    /// Subscribers holding more than one lease: only their matches need de-duplicating.
    @usableFromInline var holdingSeveral: Set<Subscriber> = []
    /// Bumped by every change to the leases: a lookup's answer holds while it is unchanged and
    /// none of the leases it matched has expired (see ``collectSubscribers(for:namespace:toService:toInstance:now:into:earliestExpiry:)``).
    public private(set) var generation: UInt64 = 0

    /// Creates an empty table.
    public init() {}

    /// Number of leases held.
    public var count: Int { channels.count }

    /// Adds `lease`, or renews the lease with the same subscriber and identifier.
    public mutating func upsert(_ lease: Lease) {
        generation &+= 1
        let key = Key(subscriber: lease.subscriber, identifier: lease.identifier)
        if let old = channels[key], old != lease.channel { _ = remove(key, on: old) }
        channels[key] = lease.channel
        identifiers[lease.subscriber, default: []].insert(lease.identifier)
        if identifiers[lease.subscriber]!.count > 1 { holdingSeveral.insert(lease.subscriber) }
        Self.update(&root, along: lease.channel.segments[...]) { $0[key] = lease }
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
    public func subscribers(
        for channel: ChannelName,
        namespace: String?,
        toService: String? = nil,
        toInstance: String? = nil,
        now: Instant
    ) -> [Subscriber] {
        var found: [Subscriber] = []
        collectSubscribers(
            for: channel,
            namespace: namespace,
            toService: toService,
            toInstance: toInstance,
            now: now,
            into: &found
        )
        return found
    }

    /// Appends the subscribers an event goes to, each once, to `found` (which the caller may
    /// reuse between lookups). The walk allocates nothing itself: segments are slices of the
    /// channel's name, and only subscribers holding several leases are checked for duplicates.
    @inlinable
    public func collectSubscribers(
        for channel: ChannelName,
        namespace: String?,
        toService: String? = nil,
        toInstance: String? = nil,
        now: Instant,
        into found: inout [Subscriber]
    ) {
        var earliestExpiry: Instant?
        collectSubscribers(
            for: channel,
            namespace: namespace,
            toService: toService,
            toInstance: toInstance,
            now: now,
            into: &found,
            earliestExpiry: &earliestExpiry
        )
    }

    /// ``collectSubscribers(for:namespace:toService:toInstance:now:into:)``, also lowering
    /// `earliestExpiry` to the first expiry among the leases matched: until then, and while
    /// ``generation`` is unchanged, the same lookup finds the same subscribers.
    @inlinable
    public func collectSubscribers(
        for channel: ChannelName,
        namespace: String?,
        toService: String? = nil,
        toInstance: String? = nil,
        now: Instant,
        into found: inout [Subscriber],
        earliestExpiry: inout Instant?
    ) {
        let first = found.count
        let mayRepeat = !holdingSeveral.isEmpty
        var node = root
        let name = channel.rawValue
        var segmentStart = name.utf8.index(after: name.utf8.startIndex)
        while true {
            for index in node.entries.indices
            where node.entries[index].matches(
                namespace: namespace,
                toService: toService,
                toInstance: toInstance,
                now: now
            ) {
                let expires = node.entries[index].expires
                if earliestExpiry.map({ expires < $0 }) ?? true { earliestExpiry = expires }
                let subscriber = node.entries[index].subscriber
                if mayRepeat, holdingSeveral.contains(subscriber), found[first...].contains(subscriber) { continue }
                found.append(subscriber)
            }
            guard segmentStart < name.utf8.endIndex,
                let slash = name.utf8[segmentStart...].firstIndex(of: UInt8(ascii: "/"))
            else { return }
            guard let child = node.children[name[segmentStart..<slash]] else { return }
            node = child
            segmentStart = name.utf8.index(after: slash)
        }
    }

    /// Every lease, for status reports.
    public var leases: [Lease] {
        var all: [Lease] = []
        Self.collect(root) { all.append($0) }
        return all
    }

    /// The lease `subscriber` holds under `identifier`, if any.
    public func lease(subscriber: Subscriber, identifier: String) -> Lease? {
        let key = Key(subscriber: subscriber, identifier: identifier)
        return channels[key].flatMap { Self.node(root, along: $0.segments[...])?[key] }
    }

    /// The leases of one subscriber.
    public func leases(of subscriber: Subscriber) -> [Lease] {
        (identifiers[subscriber] ?? []).compactMap { lease(subscriber: subscriber, identifier: $0) }
    }

    private mutating func remove(_ key: Key, on channel: ChannelName) -> Lease? {
        generation &+= 1
        channels[key] = nil
        identifiers[key.subscriber]?.remove(key.identifier)
        if identifiers[key.subscriber]?.isEmpty == true { identifiers[key.subscriber] = nil }
        if (identifiers[key.subscriber]?.count ?? 0) < 2 { holdingSeveral.remove(key.subscriber) }
        var removed: Lease?
        Self.update(&root, along: channel.segments[...]) { removed = $0.removeValue(forKey: key) }
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
        node.entries.forEach(body)
        for child in node.children.values { collect(child, body) }
    }
}

extension String {
    /// Equal, or equal once lower-cased.
    @usableFromInline
    func equalIgnoringCase(_ other: String) -> Bool {
        self == other || self.lowercased() == other.lowercased()
    }
}
