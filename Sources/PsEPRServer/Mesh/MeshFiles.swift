import Foundation
import PsEPRCore

/// One server of a mesh as the configuration files describe it.
public struct MeshServer: Sendable, Hashable {
    /// The server's host name: its section in `LeasePeer.xml` (`/PsEPRServer/identity/hostname`).
    public var name: String
    /// Its peer ID.
    public var id: String
    /// Its authKey.
    public var authKey: String
    /// Where peers reach it.
    public var peerHost: String
    /// Its LeasePeer port.
    public var peerPort: Int
    /// Where clients reach it.
    public var clientHost: String
    /// Its client port.
    public var clientPort: Int

    /// Creates a server entry.
    public init(
        name: String,
        id: String,
        authKey: String,
        peerHost: String,
        peerPort: Int = 23341,
        clientHost: String,
        clientPort: Int = 23345
    ) {
        self.name = name
        self.id = id
        self.authKey = authKey
        self.peerHost = peerHost
        self.peerPort = peerPort
        self.clientHost = clientHost
        self.clientPort = clientPort
    }
}

/// The mesh's shared files, as the original's `buildLeasePeer` and `buildjClientxml` scripts
/// made them from the list of active servers.
public enum MeshFiles {
    /// Reads an active-servers list: one server a line, `#` starts a comment:
    /// ```
    /// NAME [peer=HOST:PORT] [client=HOST:PORT]
    /// ```
    /// NAME is the server's host name (its `/PsEPRServer/identity/hostname`); peers and clients
    /// reach it at NAME on 23341 and 23345 unless the options say otherwise. IDs are given in
    /// order (1, 2, …) and every server gets a fresh random authKey.
    ///
    /// - Throws: ``SettingsError`` naming the line that is wrong.
    public static func activeServers(_ text: String) throws -> [MeshServer] {
        var servers: [MeshServer] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let name = fields.first else { continue }
            func fail(_ why: String) -> SettingsError { SettingsError(message: "line \(number + 1): \(why)") }
            guard isElementName(name) else {
                throw fail("\(name) cannot name an XML element (a host name that starts with a letter)")
            }
            guard !servers.contains(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw fail("\(name) is listed twice")
            }
            var server = MeshServer(
                name: String(name),
                id: "\(servers.count + 1)",
                authKey: newAuthKey(),
                peerHost: String(name),
                clientHost: String(name)
            )
            for option in fields.dropFirst() {
                let parts = option.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let (host, port) = hostAndPort(parts[1]) else {
                    throw fail("expected peer=HOST:PORT or client=HOST:PORT, got \(option)")
                }
                switch parts[0] {
                case "peer": (server.peerHost, server.peerPort) = (host, port)
                case "client": (server.clientHost, server.clientPort) = (host, port)
                default: throw fail("unknown option \(parts[0])")
                }
            }
            servers.append(server)
        }
        return servers
    }

    /// The PERSITE `LeasePeer.xml` of a full mesh: a section per server listing every other.
    public static func leasePeerXML(_ servers: [MeshServer]) -> String {
        leasePeerXML(servers, links: MeshLayout.full.links(count: servers.count))
    }

    /// The PERSITE `LeasePeer.xml` of `layout`: a section per server listing its neighbours.
    public static func leasePeerXML(_ servers: [MeshServer], layout: MeshLayout) -> String {
        leasePeerXML(servers, links: layout.links(count: servers.count))
    }

    /// The PERSITE `LeasePeer.xml` with a section per server listing the servers `links` join it
    /// to (by position in `servers`); a server that links with none gets its ID and key only.
    public static func leasePeerXML(_ servers: [MeshServer], links: Set<MeshLink>) -> String {
        var xml = XMLWriter(capacity: 4096)
        xml.start("leasePeer")
        for (position, server) in servers.enumerated() {
            xml.markup("\n  ")
            xml.start(server.name)
            xml.markup("\n    ")
            xml.element("ID", text: server.id)
            xml.markup("\n    ")
            xml.element("authKey", text: server.authKey)
            let neighbours = servers.indices.filter { $0 != position && links.contains(MeshLink(position, $0)) }.map {
                servers[$0]
            }
            for (index, peer) in neighbours.enumerated() {
                xml.markup("\n    ")
                xml.element("peer" + String(index).leftPadded(to: 3)) {
                    $0.element("peer", text: peer.peerHost)
                    $0.element("port", text: String(peer.peerPort))
                    $0.element("ID", text: peer.id)
                    $0.element("authKey", text: peer.authKey)
                    $0.element("connectionType", text: "lease")
                }
            }
            xml.markup("\n  ")
            xml.end(server.name)
        }
        xml.markup("\n")
        xml.end("leasePeer")
        xml.markup("\n")
        return xml.string
    }

    /// The clients' server list (`jClient.xml` shape): an element per server holding
    /// `<server>` and `<port>`.
    public static func jClientXML(_ servers: [MeshServer]) -> String {
        var xml = XMLWriter(capacity: 1024)
        xml.start("jClient")
        xml.markup("\n  ")
        xml.start("servers")
        for (index, server) in servers.enumerated() {
            xml.markup("\n    ")
            xml.element("server" + String(index + 1).leftPadded(to: 3)) {
                $0.element("server", text: server.clientHost)
                $0.element("port", text: String(server.clientPort))
            }
        }
        xml.markup("\n  ")
        xml.end("servers")
        xml.markup("\n")
        xml.end("jClient")
        xml.markup("\n")
        return xml.string
    }

    /// A fresh authKey: 128 random bits, hex.
    public static func newAuthKey() -> String { RandomText.hex(byteCount: 16) }

    private static func isElementName(_ name: Substring) -> Bool {
        guard let first = name.first, first.isLetter || first == "_" else { return false }
        return name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }
    }

    private static func hostAndPort(_ text: Substring) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port), colon > text.startIndex
        else { return nil }
        return (String(text[..<colon]), port)
    }
}
