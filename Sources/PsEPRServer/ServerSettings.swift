import Foundation
public import PsEPRCore

/// Everything `PsEPRServer.xml` configures: the event server, logging, identity and the peer
/// settings, with the Server Guide's defaults wherever it gives one.
///
/// Files are read in the guide's search order, each overriding the ones before it, then the
/// `--config` file last. Parameter names match without regard to case.
public struct ServerSettings: Sendable {
    /// The event server's settings.
    public var server = EventServerConfiguration()
    /// Log directory [`/PsEPRServer/debug/directory`].
    public var logDirectory = "/usr/local/psepr/logs/PsEPRServer"
    /// Categories logged [`/PsEPRServer/debug/filterLevel`], 0xB062.
    public var logFilter = LogCategory.serverDefault
    /// Files kept [`/PsEPRServer/debug/maximumFiles`], 10.
    public var logMaximumFiles = 10
    /// Size of each file [`/PsEPRServer/debug/maximumFileBytes`], 1 MB.
    public var logMaximumFileBytes = 1 << 20
    /// Where the peer list comes from [`/PsEPRServer/peer/leasePeer/configurationURL`]; none by default.
    public var peerConfigurationURL: String?
    /// Peer listener port [`/PsEPRServer/peer/leasePeer/port`], 23341.
    public var peerPort = 23341
    /// Seconds between re-reads of the peer list [`/PsEPRServer/peer/leasePeer/configurationCheckSeconds`], 300.
    public var peerConfigurationCheckSeconds = 300
    /// Length of the leases taken on peers [`/PsEPRServer/peer/leasePeer/leaseSeconds`], 600.
    public var peerLeaseSeconds = 600
    /// Account file [`/PsEPRServer/service/accounting/file`]; none runs open.
    public var accountFile: String?
    /// Every parameter read, for reports and later lookups.
    public var parameters = ParameterSet()
    /// The files read, in order.
    public var sources: [String] = []

    /// The defaults, with the OS host name as the server's name.
    public init() {
        server.serverName = ProcessInfo.processInfo.hostName
    }

    /// Settings from parameters over the defaults.
    ///
    /// - Throws: ``ParameterError`` naming a parameter whose value is of the wrong kind.
    public init(parameters: ParameterSet) throws {
        self.init()
        self.parameters = parameters
        let p = parameters
        server.host = p.string(Key.bindAddress, default: server.host)
        server.serverName = p.string(Key.hostname, default: server.serverName)
        server.clientPort = try port(Key.clientPort, default: server.clientPort)
        server.maximumConnections = try positive(Key.maximumConnections, default: server.maximumConnections)
        server.outboundQueueMax = try positive(Key.clientOutboundQueueMax, default: server.outboundQueueMax)
        server.disconnectAfterDrops = try positive(Key.disconnectAfterDrops, default: server.disconnectAfterDrops)
        server.idleTimeoutSeconds = try positive(Key.idleTimeoutSeconds, default: server.idleTimeoutSeconds)
        server.authenticationTimeoutSeconds = try positive(Key.authenticationTimeoutSeconds, default: server.authenticationTimeoutSeconds)
        server.maximumLeasesPerConnection = try positive(Key.maximumLeases, default: server.maximumLeasesPerConnection)
        server.limits.maximumStanzaBytes = try positive(Key.maximumStanzaBytes, default: server.limits.maximumStanzaBytes)
        server.leaseMinimumSeconds = try positive(Key.leaseMinimumSeconds, default: server.leaseMinimumSeconds)
        server.leaseMaximumSeconds = try positive(Key.leaseMaximumSeconds, default: server.leaseMaximumSeconds)
        guard server.leaseMinimumSeconds <= server.leaseMaximumSeconds else {
            throw ParameterError(name: Key.leaseMinimumSeconds, value: "\(server.leaseMinimumSeconds)", expected: "at most \(Key.leaseMaximumSeconds) (\(server.leaseMaximumSeconds))")
        }
        server.gleanerPeriodSeconds = Double(try positive(Key.gleanerPeriodSeconds, default: Int(server.gleanerPeriodSeconds)))
        server.oneEventPort = try port(Key.oneEventPort, default: server.oneEventPort)
        server.oneEventMaximumBytes = try positive(Key.oneEventMaximumBytes, default: server.oneEventMaximumBytes)
        server.oneEventTimeoutSeconds = try positive(Key.oneEventTimeoutSeconds, default: server.oneEventTimeoutSeconds)
        logDirectory = p.string(Key.logDirectory, default: logDirectory)
        let filter = try p.integer(Key.filterLevel, default: Int(LogCategory.serverDefault.rawValue))
        guard let bits = UInt32(exactly: filter) else { throw ParameterError(name: Key.filterLevel, value: "\(filter)", expected: "a 32-bit mask") }
        logFilter = LogCategory(rawValue: bits)
        logMaximumFiles = try positive(Key.logMaximumFiles, default: logMaximumFiles)
        logMaximumFileBytes = try positive(Key.logMaximumFileBytes, default: logMaximumFileBytes)
        peerConfigurationURL = p[Key.peerConfigurationURL].flatMap { $0.isEmpty ? nil : $0 }
        peerPort = try port(Key.peerPort, default: peerPort)
        peerConfigurationCheckSeconds = try positive(Key.peerConfigurationCheckSeconds, default: peerConfigurationCheckSeconds)
        peerLeaseSeconds = try positive(Key.peerLeaseSeconds, default: peerLeaseSeconds)
        accountFile = p[Key.accountFile].flatMap { $0.isEmpty ? nil : $0 }

        func positive(_ name: String, default fallback: Int) throws -> Int {
            let value = try p.integer(name, default: fallback)
            guard value > 0 else { throw ParameterError(name: name, value: "\(value)", expected: "a positive integer") }
            return value
        }
        func port(_ name: String, default fallback: Int) throws -> Int {
            let value = try p.integer(name, default: fallback)
            guard (0...65535).contains(value) else { throw ParameterError(name: name, value: "\(value)", expected: "a port number (0 picks a free one)") }
            return value
        }
    }

    /// Every parameter this server reads with the value in effect (defaults included), plus any
    /// other parameter the files set.
    public var effectiveParameters: ParameterSet {
        var effective = parameters
        let values: [(String, String)] = [
            (Key.bindAddress, server.host), (Key.hostname, server.serverName), (Key.clientPort, "\(server.clientPort)"),
            (Key.maximumConnections, "\(server.maximumConnections)"), (Key.clientOutboundQueueMax, "\(server.outboundQueueMax)"),
            (Key.disconnectAfterDrops, "\(server.disconnectAfterDrops)"), (Key.idleTimeoutSeconds, "\(server.idleTimeoutSeconds)"),
            (Key.authenticationTimeoutSeconds, "\(server.authenticationTimeoutSeconds)"), (Key.maximumLeases, "\(server.maximumLeasesPerConnection)"),
            (Key.maximumStanzaBytes, "\(server.limits.maximumStanzaBytes)"), (Key.leaseMinimumSeconds, "\(server.leaseMinimumSeconds)"),
            (Key.leaseMaximumSeconds, "\(server.leaseMaximumSeconds)"), (Key.gleanerPeriodSeconds, "\(Int(server.gleanerPeriodSeconds))"),
            (Key.oneEventPort, "\(server.oneEventPort)"), (Key.oneEventMaximumBytes, "\(server.oneEventMaximumBytes)"),
            (Key.oneEventTimeoutSeconds, "\(server.oneEventTimeoutSeconds)"), (Key.logDirectory, logDirectory),
            (Key.filterLevel, "0x" + String(logFilter.rawValue, radix: 16, uppercase: true)), (Key.logMaximumFiles, "\(logMaximumFiles)"),
            (Key.logMaximumFileBytes, "\(logMaximumFileBytes)"), (Key.peerConfigurationURL, peerConfigurationURL ?? ""),
            (Key.peerPort, "\(peerPort)"), (Key.peerConfigurationCheckSeconds, "\(peerConfigurationCheckSeconds)"),
            (Key.peerLeaseSeconds, "\(peerLeaseSeconds)"), (Key.accountFile, accountFile ?? ""),
        ]
        for (name, value) in values { effective.set(name, value) }
        return effective
    }

    /// The parameter names this server reads (others are kept and reported but have no effect).
    public enum Key {
        public static let bindAddress = "/PsEPRServer/identity/bindAddress"
        public static let hostname = "/PsEPRServer/identity/hostname"
        public static let clientPort = "/PsEPRServer/client/XMPP/port"
        public static let maximumConnections = "/PsEPRServer/client/XMPP/maximumConnections"
        public static let clientOutboundQueueMax = "/PsEPRServer/client/XMPP/outboundQueueMax"
        public static let disconnectAfterDrops = "/PsEPRServer/client/XMPP/disconnectAfterDrops"
        public static let idleTimeoutSeconds = "/PsEPRServer/client/XMPP/idleTimeoutSeconds"
        public static let authenticationTimeoutSeconds = "/PsEPRServer/client/XMPP/authenticationTimeoutSeconds"
        public static let maximumLeases = "/PsEPRServer/client/XMPP/maximumLeases"
        public static let maximumStanzaBytes = "/PsEPRServer/client/XMPP/maximumStanzaBytes"
        public static let leaseMinimumSeconds = "/PsEPRServer/client/lease/minSeconds"
        public static let leaseMaximumSeconds = "/PsEPRServer/client/lease/maxSeconds"
        public static let gleanerPeriodSeconds = "/PsEPRServer/service/gleaner/periodSeconds"
        public static let oneEventPort = "/PsEPRServer/client/oneEvent/port"
        public static let oneEventMaximumBytes = "/PsEPRServer/client/oneEvent/maximumBytes"
        public static let oneEventTimeoutSeconds = "/PsEPRServer/client/oneEvent/timeoutSeconds"
        public static let logDirectory = "/PsEPRServer/debug/directory"
        public static let filterLevel = "/PsEPRServer/debug/filterLevel"
        public static let logMaximumFiles = "/PsEPRServer/debug/maximumFiles"
        public static let logMaximumFileBytes = "/PsEPRServer/debug/maximumFileBytes"
        public static let peerConfigurationURL = "/PsEPRServer/peer/leasePeer/configurationURL"
        public static let peerPort = "/PsEPRServer/peer/leasePeer/port"
        public static let peerConfigurationCheckSeconds = "/PsEPRServer/peer/leasePeer/configurationCheckSeconds"
        public static let peerLeaseSeconds = "/PsEPRServer/peer/leasePeer/leaseSeconds"
        public static let accountFile = "/PsEPRServer/service/accounting/file"
    }

    /// The Server Guide's search path: system-wide, the user's, then the working directory's
    /// `PsEPRServer.xml`.
    /// - Parameters:
    ///   - home: the user's home directory (default `$HOME`).
    ///   - workingDirectory: the directory searched last (default the current one).
    public static func searchPath(home: String? = nil, workingDirectory: String? = nil) -> [String] {
        let home = home ?? ProcessInfo.processInfo.environment["HOME"]
        let workingDirectory = workingDirectory ?? FileManager.default.currentDirectoryPath
        var paths = ["/usr/local/psepr/etc/psepr/PsEPRServer.xml"]
        if let home { paths.append((home as NSString).appendingPathComponent(".psepr/PsEPRServer.xml")) }
        paths.append((workingDirectory as NSString).appendingPathComponent("PsEPRServer.xml"))
        return paths
    }

    /// Reads every file of `searchPath` that exists, then each of `configurationFiles` (which
    /// must exist), later values overriding earlier ones.
    ///
    /// - Throws: ``SettingsError`` naming the file that cannot be read or parsed, or
    ///   ``ParameterError`` for a value of the wrong kind.
    public static func load(searchPath: [String] = searchPath(), configurationFiles: [String] = []) throws -> ServerSettings {
        var parameters = ParameterSet()
        var sources: [String] = []
        for path in searchPath where FileManager.default.fileExists(atPath: path) {
            try read(path, into: &parameters)
            sources.append(path)
        }
        for configurationFile in configurationFiles {
            guard FileManager.default.fileExists(atPath: configurationFile) else {
                throw SettingsError(message: "the configuration file \(configurationFile) does not exist")
            }
            try read(configurationFile, into: &parameters)
            sources.append(configurationFile)
        }
        var settings = try ServerSettings(parameters: parameters)
        settings.sources = sources
        if let accountFile = settings.accountFile {
            do {
                settings.server.accounts = try AccountTable(contentsOfFile: accountFile)
            } catch {
                throw SettingsError(message: "\(Key.accountFile): \(error)")
            }
        }
        return settings
    }

    private static func read(_ path: String, into parameters: inout ParameterSet) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw SettingsError(message: "cannot read \(path)") }
        do {
            try parameters.merge(xml: data)
        } catch {
            throw SettingsError(message: "\(path) is not a parameter file: \(error)")
        }
    }
}

/// A configuration file that cannot be used.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the file.
    public let message: String
    public var description: String { message }
}
