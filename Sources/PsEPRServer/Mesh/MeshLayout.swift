import PsEPRCore

/// A link between two servers of a mesh, by their positions in the server list (lower first).
public struct MeshLink: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let lower: Int
    public let upper: Int

    /// The link between servers `a` and `b` (in either order; they must differ).
    public init(_ a: Int, _ b: Int) {
        precondition(a != b, "a server does not link with itself")
        (lower, upper) = (min(a, b), max(a, b))
    }

    public static func < (lhs: MeshLink, rhs: MeshLink) -> Bool { (lhs.lower, lhs.upper) < (rhs.lower, rhs.upper) }

    /// Whether `index` is one of its ends.
    public func touches(_ index: Int) -> Bool { lower == index || upper == index }

    public var description: String { "\(lower + 1)–\(upper + 1)" }
}

/// Which servers of a list link with which: the layouts `psepr peers build --topology` and
/// `psepr mesh-demo --topology` write. Only a full mesh forwards one hop; every other layout
/// relays (see docs/psepr-protocol.md, LeasePeer).
public enum MeshLayout: Sendable, Hashable {
    /// Every server with every other: n(n−1)/2 links, events one hop.
    case full
    /// Each server with the next: n−1 links.
    case chain
    /// A chain closed into a loop: n links.
    case ring
    /// The first server (the hub) with every other: n−1 links.
    case star
    /// Server i (from 0) under server (i−1)/fanOut: a tree of n−1 links, `fanOut` children each.
    case tree(fanOut: Int)
    /// A random spanning tree plus `extraLinks` random links more, the same for the same seed.
    case random(seed: UInt64, extraLinks: Int)

    /// Reads a layout name: `full`, `chain`, `ring`, `star`, `tree` or `random`.
    public init?(name: String, fanOut: Int = 3, seed: UInt64 = 1, extraLinks: Int? = nil, servers: Int = 0) {
        switch name.lowercased() {
        case "full": self = .full
        case "chain": self = .chain
        case "ring": self = .ring
        case "star", "hub": self = .star
        case "tree": self = .tree(fanOut: max(1, fanOut))
        case "random": self = .random(seed: seed, extraLinks: extraLinks ?? max(1, servers / 2))
        default: return nil
        }
    }

    /// The names ``init(name:fanOut:seed:extraLinks:servers:)`` reads.
    public static let names = ["full", "chain", "ring", "star", "tree", "random"]

    /// Whether this is the full mesh.
    public var isFull: Bool { if case .full = self { true } else { false } }

    /// The links among `count` servers.
    public func links(count: Int) -> Set<MeshLink> {
        guard count > 1 else { return [] }
        switch self {
        case .full:
            return Set((0..<count).flatMap { a in (a + 1..<count).map { MeshLink(a, $0) } })
        case .chain:
            return Set((1..<count).map { MeshLink($0 - 1, $0) })
        case .ring:
            var links = MeshLayout.chain.links(count: count)
            if count > 2 { links.insert(MeshLink(0, count - 1)) }
            return links
        case .star:
            return Set((1..<count).map { MeshLink(0, $0) })
        case .tree(let fanOut):
            return Set((1..<count).map { MeshLink(($0 - 1) / max(1, fanOut), $0) })
        case .random(let seed, let extraLinks):
            var generator = SplitMix64(seed: seed)
            var links = Set((1..<count).map { MeshLink(Int(generator.next() % UInt64($0)), $0) })
            let possible = count * (count - 1) / 2
            var attempts = 0
            while links.count < min(possible, count - 1 + extraLinks), attempts < 100 * (extraLinks + 1) {
                attempts += 1
                let a = Int(generator.next() % UInt64(count))
                let b = Int(generator.next() % UInt64(count))
                if a != b { links.insert(MeshLink(a, b)) }
            }
            return links
        }
    }

    /// Whether `links` join all `count` servers.
    public static func isConnected(_ links: Set<MeshLink>, count: Int) -> Bool {
        guard count > 1 else { return true }
        var reached: Set<Int> = [0]
        var frontier = [0]
        while let next = frontier.popLast() {
            for link in links where link.touches(next) {
                let other = link.lower == next ? link.upper : link.lower
                if reached.insert(other).inserted { frontier.append(other) }
            }
        }
        return reached.count == count
    }
}
