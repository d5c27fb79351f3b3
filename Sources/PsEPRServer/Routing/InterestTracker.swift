import PsEPRCore
import Synchronization

/// The distinct channel and namespace pairs leased by clients and propagating services, counted
/// lease by lease, so the mesh learns when a pair appears or goes. Lives in the router's state,
/// under its lock, changed in the same step as the route table.
struct InterestCounts {
    private var counts: [Interest: Int] = [:]

    /// Counts `lease` in (`change` 1) or out (-1); true if the set of interests changed. Leases
    /// of peers and of services that do not propagate are not interests.
    mutating func count(_ lease: RouteTable<Destination, ContinuousClock.Instant>.Lease, by change: Int) -> Bool {
        switch lease.subscriber {
        case .connection(let queue) where queue.role == .client: break
        case .service(let inbox) where inbox.propagates: break
        default: return false
        }
        let interest = Interest(channel: lease.channel, namespace: lease.namespaceFilter)
        let count = counts[interest, default: 0] + change
        counts[interest] = count > 0 ? count : nil
        return count == 0 || (count == 1 && change > 0)
    }

    var all: Set<Interest> { Set(counts.keys) }

    func contains(_ interest: Interest) -> Bool { counts[interest] != nil }
}

/// Who waits to hear that the set of interests changed (the mesh's reconciler); each gets a
/// coalescing sequence of its own.
final class InterestWatchers: Sendable {
    private let watchers = Mutex<(next: Int, watchers: [Int: AsyncStream<Void>.Continuation])>((0, [:]))

    /// A new sequence that yields after each change (coalesced); it ends when its reader stops.
    func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let key = watchers.withLock { watchers in
            defer { watchers.next += 1 }
            watchers.watchers[watchers.next] = continuation
            return watchers.next
        }
        continuation.onTermination = { [weak self] _ in
            self?.watchers.withLock { _ = $0.watchers.removeValue(forKey: key) }
        }
        return stream
    }

    /// Tells every watcher the set changed.
    func signal() {
        for watcher in watchers.withLock({ Array($0.watchers.values) }) { watcher.yield() }
    }
}
