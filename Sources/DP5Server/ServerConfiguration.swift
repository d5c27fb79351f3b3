public import DP5Client
public import DP5Core
import Foundation

/// A server's configuration: the original's `regserver.cfg` / `lookupserver.cfg`.
///
/// ```json
/// { "server": { "server.socket_host": "0.0.0.0", "server.socket_port": 8443,
///               "server.ssl_certificate": "testcerts/server.crt", "server.ssl_private_key": "testcerts/server.key" },
///   "isRegServer": true, "isLookupServer": false, "regdir": "regdir", "datadir": "datadir" }
/// ```
///
/// Every key is documented in the README. Relative paths are relative to the working directory.
public struct ServerConfiguration: Sendable {
    /// Address to bind (`server.socket_host`, default `127.0.0.1`).
    public var host: String
    /// Port to listen on (`server.socket_port`, default 8443; 0 picks a free port).
    public var port: Int
    /// PEM certificate chain and private key (`server.ssl_certificate`, `server.ssl_private_key`).
    /// Without them the server speaks plain HTTP.
    public var tls: (certificatePath: String, privateKeyPath: String)?
    /// Whether this server takes registrations and publishes databases (`isRegServer`).
    public var isRegistrationServer: Bool
    /// Whether this server answers lookups (`isLookupServer`).
    public var isLookupServer: Bool
    /// Where registrations for the next epoch are kept (`regdir`, default `regdir`).
    public var registrationDirectory: String
    /// Where epoch databases are kept (`datadir`, default `datadir`).
    public var dataDirectory: String
    /// Base URL of the registration server a lookup server fetches databases from (`regServer`).
    public var registrationServer: String?
    /// Parameters shared with every client (`epochLength`, `dataEncSize`, `combined`).
    public var protocolConfiguration: DP5Configuration
    /// Whether `GET /debugfastforward` may move the epoch on (`allowDebugFastForward`, default false).
    public var allowDebugFastForward: Bool
    /// Largest request body accepted, in bytes (`maxRequestBytes`, default 16 MiB).
    public var maxRequestBytes: Int
    /// Which certificates a lookup server accepts from `regServer` (`trustCertificate`, `verifyCertificates`).
    public var trust: TLSTrust
    /// Cores one PIR pass may use (`pirThreads`, default: all).
    public var pirThreads: Int
    /// Published epochs a registration server keeps in `datadir` and `regdir` (`keepEpochs`, default 4).
    public var keptEpochs: Int
    /// Connections served at once (`maxConnections`, default 1000); more are closed on accept.
    public var maximumConnections: Int
    /// Seconds a connection may stay silent: between requests, or in the middle of one
    /// (`idleTimeout`, default 60).
    public var idleTimeout: Double
    /// Seconds a request may take to arrive whole, from its first byte to its last
    /// (`requestTimeout`, default 60).
    public var requestTimeout: Double
    /// The file this configuration was read from, for error messages that say what to add where.
    public var sourceFile: String?

    /// `keepEpochs`' default.
    public static let defaultKeptEpochs = 4

    /// Creates a configuration; at least one role must be set.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8443,
        tls: (certificatePath: String, privateKeyPath: String)? = nil,
        isRegistrationServer: Bool,
        isLookupServer: Bool,
        registrationDirectory: String = "regdir",
        dataDirectory: String = "datadir",
        registrationServer: String? = nil,
        protocolConfiguration: DP5Configuration = .default,
        allowDebugFastForward: Bool = false,
        maxRequestBytes: Int = 16 << 20,
        trust: TLSTrust = TLSTrust(),
        pirThreads: Int = ServerConfiguration.coreCount,
        keptEpochs: Int = ServerConfiguration.defaultKeptEpochs,
        maximumConnections: Int = 1000,
        idleTimeout: Double = 60,
        requestTimeout: Double = 60,
        sourceFile: String? = nil
    ) throws {
        guard isRegistrationServer || isLookupServer else {
            throw ConfigurationError(
                key: "isRegServer",
                "a server must be a registration server, a lookup server, or both"
            )
        }
        if isLookupServer && !isRegistrationServer && registrationServer == nil {
            throw ConfigurationError(
                key: "regServer",
                "is required for a lookup server: the registration server to fetch databases from"
            )
        }
        self.host = host
        self.port = port
        self.tls = tls
        self.isRegistrationServer = isRegistrationServer
        self.isLookupServer = isLookupServer
        self.registrationDirectory = registrationDirectory
        self.dataDirectory = dataDirectory
        self.registrationServer = registrationServer.map { $0.contains("://") ? $0 : "https://" + $0 }
        self.protocolConfiguration = protocolConfiguration
        self.allowDebugFastForward = allowDebugFastForward
        self.maxRequestBytes = maxRequestBytes
        self.trust = trust
        self.pirThreads = max(1, pirThreads)
        self.keptEpochs = max(2, keptEpochs)
        self.maximumConnections = max(1, maximumConnections)
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.sourceFile = sourceFile
    }

    /// The configuration file's name, for messages: "regserver.cfg", or "the server's configuration".
    public var fileName: String { sourceFile ?? "the server's configuration file" }

    /// Online CPUs, the default for `pirThreads`.
    public static var coreCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Reads a server configuration file.
    public init(contentsOfFile path: String) throws {
        var object = try ConfigurationObject(contentsOfFile: path)
        var host = "127.0.0.1"
        var port = 8443
        var certificate: String?
        var privateKey: String?
        if var server = try object.object("server") {
            host = try server.string("server.socket_host") ?? host
            port = try server.integer("server.socket_port", in: 0...65535) ?? port
            certificate = try server.string("server.ssl_certificate")
            privateKey = try server.string("server.ssl_private_key")
            // Accepted for compatibility; TLS is built in and requests are served asynchronously.
            _ = try server.string("server.ssl_module")
            _ = try server.integer("server.thread_pool", in: 1...100_000)
            try server.rejectUnreadKeys()
        }
        if (certificate == nil) != (privateKey == nil) {
            throw ConfigurationError(
                key: certificate == nil ? "server.ssl_certificate" : "server.ssl_private_key",
                "TLS needs both server.ssl_certificate and server.ssl_private_key"
            )
        }
        let isRegistrationServer = try object.bool("isRegServer") ?? false
        let isLookupServer = try object.bool("isLookupServer") ?? false
        let registrationDirectory = try object.string("regdir") ?? "regdir"
        let dataDirectory = try object.string("datadir") ?? "datadir"
        let registrationServer = try object.string("regServer")
        let protocolConfiguration = try DP5Configuration(reading: &object)
        let allowDebugFastForward = try object.bool("allowDebugFastForward") ?? false
        let maxRequestBytes = try object.integer("maxRequestBytes", in: 1024...(1 << 30)) ?? 16 << 20
        let trust = try TLSTrust(reading: &object)
        let pirThreads = try object.integer("pirThreads", in: 1...1024) ?? Self.coreCount
        let keptEpochs = try object.integer("keepEpochs", in: 2...1_000_000) ?? Self.defaultKeptEpochs
        let maximumConnections = try object.integer("maxConnections", in: 1...1_000_000) ?? 1000
        let idleTimeout = try object.number("idleTimeout", in: 0.001...86_400) ?? 60
        let requestTimeout = try object.number("requestTimeout", in: 0.001...86_400) ?? 60
        try object.rejectUnreadKeys()
        try self.init(
            host: host,
            port: port,
            tls: certificate.flatMap { certificate in privateKey.map { (certificate, $0) } },
            isRegistrationServer: isRegistrationServer,
            isLookupServer: isLookupServer,
            registrationDirectory: registrationDirectory,
            dataDirectory: dataDirectory,
            registrationServer: registrationServer,
            protocolConfiguration: protocolConfiguration,
            allowDebugFastForward: allowDebugFastForward,
            maxRequestBytes: maxRequestBytes,
            trust: trust,
            pirThreads: pirThreads,
            keptEpochs: keptEpochs,
            maximumConnections: maximumConnections,
            idleTimeout: idleTimeout,
            requestTimeout: requestTimeout,
            sourceFile: path
        )
    }
}
