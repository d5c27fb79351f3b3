/// One server this server links with, as a `LeasePeer.xml` section lists it.
public struct PeerEntry: Sendable, Hashable {
    /// The peer's ID: how it is known (several servers may share one address).
    public var id: String
    /// The peer's authKey: the secret it proves it holds.
    public var authKey: String
    /// Where it is reached (the `<peer>` element).
    public var host: String
    /// Its LeasePeer port.
    public var port: Int
    /// `<connectionType>`, kept for reports (the original stored it and did not use it).
    public var connectionType: String?

    /// Creates an entry.
    public init(id: String, authKey: String, host: String, port: Int, connectionType: String? = nil) {
        self.id = id
        self.authKey = authKey
        self.host = host
        self.port = port
        self.connectionType = connectionType
    }
}

/// This server's view of the mesh: its own ID and authKey and the peers it links with.
///
/// Read from the PERSITE `LeasePeer.xml` (one shared file with a section per server, named by
/// the server's `/PsEPRServer/identity/hostname`) or, for the peer list, from an event on the
/// configuration channel.
public struct PeerConfiguration: Sendable, Hashable {
    /// This server's ID; `nil` when its section or ID is missing.
    public var ownID: String?
    /// This server's authKey; `nil` when missing.
    public var ownAuthKey: String?
    /// The peers, by ID, in file order (without this server and without duplicates).
    public var peers: [PeerEntry] = []
    /// Entries that were skipped, and why.
    public var warnings: [String] = []
    /// The whole mesh as the file describes it (every section); nil for a list from the
    /// configuration channel, which describes only this server's peers.
    public var topology: MeshTopology?

    /// Creates a configuration.
    public init(ownID: String? = nil, ownAuthKey: String? = nil, peers: [PeerEntry] = []) {
        self.ownID = ownID
        self.ownAuthKey = ownAuthKey
        self.peers = peers
    }

    /// The most peers a section may list (`peer000` … `peer099`, as the original read them).
    public static let maximumPeers = 100

    /// Whether this server may do peer work, or why not.
    public var refusal: String? {
        guard let ownID, !ownID.isEmpty, let ownAuthKey, !ownAuthKey.isEmpty else {
            return "this server is not in the LeasePeer file (no ID and authKey in its section)"
        }
        return nil
    }

    /// The peer with `id`, if listed.
    public func peer(id: String) -> PeerEntry? { peers.first { $0.id == id } }

    /// Reads this server's section of a PERSITE `LeasePeer.xml`.
    ///
    /// - Parameters:
    ///   - hostname: the section to read (`/PsEPRServer/identity/hostname`), matched without regard to case.
    ///   - defaultPort: the port of a peer entry without `<port>`.
    /// - Throws: ``PsEPRError`` when the file is not well-formed XML.
    public static func persite(
        _ bytes: some Collection<UInt8>,
        hostname: String,
        defaultPort: Int
    ) throws -> PeerConfiguration {
        let root = try ParsedElement.parse(bytes, maximumDepth: 8)
        var configuration = PeerConfiguration()
        guard let section = root.children.first(where: { $0.localName.lowercased() == hostname.lowercased() }) else {
            configuration.warnings.append("no section <\(hostname)> in the file")
            return configuration
        }
        configuration.ownID = section.textIgnoringCase("ID")
        configuration.ownAuthKey = section.textIgnoringCase("authKey")
        let entries = section.children.filter(\.isPeerEntry)
        configuration.add(entries, defaultPort: defaultPort)
        let topology = MeshTopology(
            sections: root.children.compactMap { section -> (id: String, name: String, peers: Set<String>)? in
                guard let id = section.textIgnoringCase("ID"), !id.isEmpty else { return nil }
                let peers = section.children.filter(\.isPeerEntry).compactMap { $0.textIgnoringCase("ID") }.filter {
                    !$0.isEmpty
                }
                return (id, String(section.localName), Set(peers))
            }
        )
        // A file without a section for some listed peer does not describe the whole mesh (each
        // server may have been given its own part): forwarding stays one hop then, as it always was.
        let described = Set(topology.servers)
        let missing = configuration.peers.map(\.id).filter { !described.contains($0) }
        guard missing.isEmpty else {
            configuration.warnings.append(
                "the file has no section for peer ID \(missing.joined(separator: ", ")), so it does not describe the whole mesh: events go one hop, as in a full mesh"
            )
            return configuration
        }
        configuration.topology = topology
        if let ownID = configuration.ownID, !ownID.isEmpty, !configuration.peers.isEmpty {
            let unreachable = topology.unreachable(from: ownID)
            if !unreachable.isEmpty {
                configuration.warnings.append(
                    "the peer file leaves the mesh disconnected: from \(topology.describe(ownID)) no path of links reaches \(unreachable.map(topology.describe).joined(separator: ", "))"
                )
            }
            for (lister, listed) in topology.oneSidedListings where lister == ownID || listed == ownID {
                configuration.warnings.append(
                    "\(topology.describe(lister)) lists \(topology.describe(listed)), which does not list it back: no link between them"
                )
            }
        }
        return configuration
    }

    /// Reads the peer list of a configuration-channel payload
    /// (`<payload><leasePeerConnections><connection>…</connection>…`).
    ///
    /// - Throws: ``PsEPRError`` when the payload is not well-formed XML.
    public static func channelPeers(
        _ payload: some Collection<UInt8>,
        defaultPort: Int
    ) throws -> (peers: [PeerEntry], warnings: [String]) {
        let root = try ParsedElement.parse(payload, maximumDepth: 8)
        let list =
            root.localName.lowercased() == "leasepeerconnections"
            ? root : root.children.first { $0.localName.lowercased() == "leasepeerconnections" }
        var configuration = PeerConfiguration()
        configuration.add(
            list?.children.filter { $0.localName.lowercased() == "connection" } ?? [],
            defaultPort: defaultPort
        )
        return (configuration.peers, configuration.warnings)
    }

    private mutating func add(_ entries: [ParsedElement], defaultPort: Int) {
        for entry in entries {
            guard peers.count < Self.maximumPeers else {
                warnings.append("more than \(Self.maximumPeers) peers; the rest are ignored")
                return
            }
            guard let id = entry.textIgnoringCase("ID"), !id.isEmpty, let authKey = entry.textIgnoringCase("authKey"),
                !authKey.isEmpty,
                let host = entry.textIgnoringCase("peer"), !host.isEmpty
            else {
                warnings.append("<\(entry.localName)> lacks a peer, ID or authKey")
                continue
            }
            let portText = entry.textIgnoringCase("port") ?? ""
            guard let port = portText.isEmpty ? defaultPort : Int(portText), (1...65535).contains(port) else {
                warnings.append("<\(entry.localName)> has a bad port \(portText.prefix(20))")
                continue
            }
            if id == ownID { continue }
            guard peer(id: id) == nil else {
                warnings.append("<\(entry.localName)> repeats the ID \(id)")
                continue
            }
            peers.append(
                PeerEntry(
                    id: id,
                    authKey: authKey,
                    host: host,
                    port: port,
                    connectionType: entry.textIgnoringCase("connectionType")
                )
            )
        }
    }

    /// Which end of a pair dials: the lower ID (numerically when both are numbers), so every
    /// pair has one connection, used both ways.
    public static func dials(ownID: String, peerID: String) -> Bool {
        if let own = Int(ownID), let peer = Int(peerID) { return own < peer }
        return ownID < peerID
    }
}

extension ParsedElement {
    /// Whether this is a `peerNNN` entry of a PERSITE section.
    var isPeerEntry: Bool {
        let name = localName.lowercased()
        return name.hasPrefix("peer") && name.count > 4 && name.dropFirst(4).allSatisfy(\.isNumber)
    }

    /// The trimmed text of the first child named `name` in any case.
    func textIgnoringCase(_ name: String) -> String? {
        let lowered = name.lowercased()
        return children.first { $0.localName.lowercased() == lowered }.map { $0.text.trimmingXMLWhitespace() }
    }
}

// Descriptions and dumps leave authKeys out: peer lists end up in logs.
extension PeerEntry: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "PeerEntry(id: \(id), host: \(host), port: \(port))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["id": id, "host": host, "port": port]) }
}

extension PeerConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "PeerConfiguration(ownID: \(ownID ?? "none"), peers: \(peers))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["ownID": ownID as Any, "peers": peers]) }
}
