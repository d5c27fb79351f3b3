import PsEPRCore

/// A PsEPR server's host and client port.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The client port every PsEPR server listens on unless told otherwise.
    public static let defaultClientPort = 23345
    /// The OneEvent port.
    public static let defaultOneEventPort = 23343

    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int = ServerAddress.defaultClientPort) {
        self.host = host
        self.port = port
    }

    /// Parses `host`, `host:port` or `[v6]:port`.
    ///
    /// - Throws: ``ServerListError`` for an empty host or a bad port.
    public init(parsing text: String, defaultPort: Int = ServerAddress.defaultClientPort) throws {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") { port = try Self.port(rest.dropFirst(), in: text) }
        } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            port = try Self.port(host[host.index(after: colon)...], in: text)
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw ServerListError(message: "\"\(text)\" names no host") }
        self.init(host: String(host), port: port)
    }

    private static func port(_ text: Substring, in whole: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw ServerListError(message: "\"\(whole)\" has a bad port")
        }
        return port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The servers in a server list, in either of the two shapes clients read:
    /// - a `jClient.xml`-style file: every element that contains a `<server>` and a `<port>`
    ///   (the shape the original's clients searched for);
    /// - a Discovery payload (Server Guide §5.3): every `<connection>` whose `<type>` is
    ///   `connectionType`, with its `<hostname>` and `<port>`.
    ///
    /// - Parameter connectionType: the connection manager wanted: `XMPP` (the client port, the
    ///   default) or `OneEvent`; compared without regard to case.
    /// - Throws: ``PsEPRError/Code/malformedXML`` for a file that is not XML, ``ServerListError``
    ///   for an entry with a bad port or a list with no entries.
    public static func list(
        fromXML bytes: some Collection<UInt8>,
        connectionType: String = "XMPP"
    ) throws -> [ServerAddress] {
        var servers: [ServerAddress] = []
        func add(host: String, portText: String) throws {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw ServerListError(message: "server \(host) has a bad port \"\(portText.prefix(10))\"")
            }
            servers.append(ServerAddress(host: host, port: port))
        }
        func visit(_ element: ParsedElement) throws {
            if let host = element.childText("server"), let portText = element.childText("port") {
                try add(host: host, portText: portText)
            } else if element.localName == "connection", let type = element.childText("type"),
                type.lowercased() == connectionType.lowercased(),
                let host = element.childText("hostname"), let portText = element.childText("port")
            {
                try add(host: host, portText: portText)
            }
            for child in element.children { try visit(child) }
        }
        try visit(ParsedElement.parse(bytes, maximumDepth: 16))
        guard !servers.isEmpty else { throw ServerListError(message: "the server list names no server") }
        return servers
    }
}

/// A server list or address that cannot be used.
public struct ServerListError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let message: String
    public var description: String { message }
}

/// Who a client is: the service it logs in as (with its password) and the instance it runs as.
/// Descriptions and dumps leave the password out.
public struct ServiceIdentity: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The service (the login name).
    public var service: String
    /// The password, sent in plain text as the protocol requires.
    public var password: String
    /// The instance (the XMPP resource), e.g. the host name.
    public var instance: String

    /// Creates an identity.
    public init(service: String, password: String, instance: String) {
        self.service = service
        self.password = password
        self.instance = instance
    }
}

extension ServiceIdentity {
    public var description: String { "ServiceIdentity(\(service)/\(instance))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["service": service, "instance": instance]) }
}
