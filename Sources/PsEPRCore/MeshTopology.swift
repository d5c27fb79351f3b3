/// The shape of a whole mesh as a PERSITE `LeasePeer.xml` describes it: which servers list
/// which. Each server reads only its own section to link, but the other sections tell it whether
/// the mesh is a full mesh (events go one hop, as they always did) or another connected graph
/// (events are relayed), and which servers its peer file leaves out of reach.
public struct MeshTopology: Sendable, Hashable {
    /// Section names by server ID (for messages).
    public private(set) var names: [String: String] = [:]
    /// By server ID, the IDs its section lists.
    public private(set) var listings: [String: Set<String>] = [:]

    /// Creates a topology from each server's ID, section name and listed peer IDs.
    public init(sections: [(id: String, name: String, peers: Set<String>)]) {
        for section in sections {
            names[section.id] = section.name
            listings[section.id, default: []].formUnion(section.peers.subtracting([section.id]))
        }
    }

    /// Every server ID, sorted.
    public var servers: [String] { listings.keys.sorted() }

    /// The servers `id` links with: those it lists that list it too (a link needs both ends to
    /// know each other's key).
    public func neighbours(of id: String) -> Set<String> {
        (listings[id] ?? []).filter { listings[$0]?.contains(id) == true }
    }

    /// Links as pairs of IDs (lower first, as text).
    public var links: [(String, String)] {
        servers.flatMap { id in neighbours(of: id).filter { id < $0 }.sorted().map { (id, $0) } }
    }

    /// The servers that link with at least one other (a section listing no one, or no one who
    /// lists it back, takes no part in forwarding).
    public var linkedServers: Set<String> { Set(listings.keys.filter { !neighbours(of: $0).isEmpty }) }

    /// Whether every linked server links with every other: the one-hop layout the mesh always had.
    public var isFullMesh: Bool {
        let linked = linkedServers
        return linked.allSatisfy { neighbours(of: $0) == linked.subtracting([$0]) }
    }

    /// The servers `id` cannot reach over links (by ID, sorted); empty when the mesh is connected.
    public func unreachable(from id: String) -> [String] {
        guard listings[id] != nil else { return [] }
        var reached: Set<String> = [id]
        var frontier = [id]
        while let next = frontier.popLast() {
            for neighbour in neighbours(of: next) where reached.insert(neighbour).inserted {
                frontier.append(neighbour)
            }
        }
        return servers.filter { !reached.contains($0) }
    }

    /// Listings the other end does not return, as (lister, listed): no link comes of them.
    public var oneSidedListings: [(String, String)] {
        servers.flatMap { id in
            (listings[id] ?? []).filter { listings[$0]?.contains(id) != true }.sorted().map { (id, $0) }
        }
    }

    /// The longest path an interest needs to travel: one less than the number of linked servers
    /// (no shortest path is longer), at least 1.
    public var maximumHops: Int { max(1, linkedServers.count - 1) }

    /// `name (ID id)` for messages.
    public func describe(_ id: String) -> String { names[id].map { "\($0) (ID \(id))" } ?? "ID \(id)" }
}
