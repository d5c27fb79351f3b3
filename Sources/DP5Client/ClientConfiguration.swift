public import DP5Core

/// The client's configuration: the original's `servers.cfg`.
///
/// ```json
/// { "regServer": "localhost:8443", "lookupServers": ["localhost:8444", "localhost:8445"],
///   "privacyLevel": 1, "epochLength": 1800, "dataEncSize": 32,
///   "trustCertificate": "testcerts/server.crt" }
/// ```
///
/// Server addresses without a scheme get `https://`, as the original client did; write
/// `http://host:port` to reach a server that runs without TLS.
public struct ClientConfiguration: Sendable {
    /// Base URL of the registration server, e.g. `https://localhost:8443`.
    public var registrationServer: String
    /// Base URLs of the lookup servers.
    public var lookupServers: [String]
    /// Number of lookup servers and privacy level.
    public var lookupParameters: LookupParameters
    /// Parameters that must match the servers'.
    public var protocolConfiguration: DP5Configuration
    /// Which server certificates to accept.
    public var trust: TLSTrust
    /// The file this configuration was read from, for messages that say what to add where.
    public var sourceFile: String?

    /// Creates a configuration.
    public init(
        registrationServer: String,
        lookupServers: [String],
        privacyLevel: Int? = nil,
        protocolConfiguration: DP5Configuration = .default,
        trust: TLSTrust = TLSTrust()
    ) throws {
        self.registrationServer = Self.baseURL(registrationServer)
        self.lookupServers = lookupServers.map(Self.baseURL)
        do {
            self.lookupParameters = try LookupParameters(
                numberOfServers: lookupServers.count,
                privacyLevel: privacyLevel ?? lookupServers.count - 1
            )
        } catch let error as DP5Error {
            throw ConfigurationError(key: privacyLevel == nil ? "lookupServers" : "privacyLevel", error.reason)
        }
        self.protocolConfiguration = protocolConfiguration
        self.trust = trust
    }

    /// Reads a `servers.cfg` file. `privacyLevel` defaults to one less than the number of lookup
    /// servers, `epochLength` to 1800, `dataEncSize` to 32.
    public init(contentsOfFile path: String) throws {
        var object = try ConfigurationObject(contentsOfFile: path)
        try self.init(reading: &object)
        self.sourceFile = path
    }

    /// Reads the keys of a `servers.cfg` from `object` (also a nested object of a two-level
    /// configuration), refusing any other key.
    public init(reading object: inout ConfigurationObject) throws {
        guard let registrationServer = try object.string("regServer") else {
            throw ConfigurationError(key: "regServer", "is required")
        }
        guard let lookupServers = try object.strings("lookupServers"), !lookupServers.isEmpty else {
            throw ConfigurationError(key: "lookupServers", "is required: a list of lookup server addresses")
        }
        let privacyLevel = try object.integer("privacyLevel", in: 1...254)
        let protocolConfiguration = try DP5Configuration(reading: &object)
        let trust = try TLSTrust(reading: &object)
        try object.rejectUnreadKeys()
        try self.init(
            registrationServer: registrationServer,
            lookupServers: lookupServers,
            privacyLevel: privacyLevel,
            protocolConfiguration: protocolConfiguration,
            trust: trust
        )
    }

    /// `host:port` → `https://host:port`; an explicit scheme is kept; no trailing slash.
    static func baseURL(_ address: String) -> String {
        var url = address.contains("://") ? address : "https://" + address
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}

extension DP5Configuration {
    /// Reads `epochLength`, `dataEncSize` and `combined` (defaults 1800, 32, false).
    /// `"combined": true` selects the combined suite DP5-COMBINED-V1 on BLS12-381
    /// (docs/dp5-combined.md); the original's BN254 combined suite is not spoken.
    public init(reading object: inout ConfigurationObject) throws {
        let epochLength = try object.integer("epochLength", in: 1...Int(UInt32.max)) ?? 1800
        let dataEncSize = try object.integer("dataEncSize", in: DP5Parameters.tagBytes...(1 << 20)) ?? 32
        let combined = try object.bool("combined") ?? false
        try self.init(epochLength: UInt32(epochLength), dataEncSize: dataEncSize, combined: combined)
    }
}
