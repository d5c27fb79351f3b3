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
    /// Standard error, line format and lowest level of the log [`/PsEPRServer/debug/…`].
    public var logOutput = LogOutputSettings()
    /// Account file [`/PsEPRServer/service/accounting/file`]; none runs open.
    public var accountFile: String?
    /// Every parameter read, for reports and later lookups.
    public var parameters = ParameterSet()
    /// The files read, in order.
    public var sources: [String] = []
    /// What in the files has no effect (a wrong root element, unknown parameters), each naming
    /// its file and parameter path.
    public var warnings: [String] = []

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
        for parameter in Self.parameterTable { try parameter.read(p, &self) }
        guard server.leaseMinimumSeconds <= server.leaseMaximumSeconds else {
            throw ParameterError(
                name: Key.leaseMinimumSeconds,
                value: "\(server.leaseMinimumSeconds)",
                expected: "at most \(Key.leaseMaximumSeconds) (\(server.leaseMaximumSeconds))"
            )
        }
        for (flow, stall, deadline) in [
            (server.flow, Key.clientStallSeconds, Key.clientWriteDeadlineSeconds),
            (server.peer.flow, Key.peerStallSeconds, Key.peerWriteDeadlineSeconds),
        ]
        where flow.stallSeconds > flow.writeDeadlineSeconds {
            throw ParameterError(
                name: stall,
                value: "\(flow.stallSeconds)",
                expected: "at most \(deadline) (\(flow.writeDeadlineSeconds))"
            )
        }
        let certificate = try ParameterKind.optionalText.read(p, Key.tlsCertificateFile, nil)
        let key = try ParameterKind.optionalText.read(p, Key.tlsKeyFile, nil)
        switch (certificate, key) {
        case (let certificate?, let key?):
            server.tls = TLSSettings(
                certificateFile: certificate,
                keyFile: key,
                required: try p.boolean(Key.tlsRequired, default: false),
                trustCertificateFile: try ParameterKind.optionalText.read(p, Key.tlsTrustCertificateFile, nil)
            )
        case (nil, nil):
            guard try !p.boolean(Key.tlsRequired, default: false) else {
                throw ParameterError(
                    name: Key.tlsRequired,
                    value: "yes",
                    expected: "no without \(Key.tlsCertificateFile) and \(Key.tlsKeyFile)"
                )
            }
        case (nil, _):
            throw ParameterError(
                name: Key.tlsCertificateFile,
                value: "",
                expected: "a PEM certificate file, since \(Key.tlsKeyFile) is set"
            )
        case (_, nil):
            throw ParameterError(
                name: Key.tlsKeyFile,
                value: "",
                expected: "a PEM private key file, since \(Key.tlsCertificateFile) is set"
            )
        }
        server.monitor = try MonitorSettings(parameters: p)
        logOutput = try LogOutputSettings(parameters: p)
    }

    /// Every parameter this server reads with the value in effect (defaults included), plus any
    /// other parameter the files set.
    public var effectiveParameters: ParameterSet {
        var effective = parameters
        let tls: [(String, String)] = [
            (Key.tlsCertificateFile, server.tls?.certificateFile ?? ""), (Key.tlsKeyFile, server.tls?.keyFile ?? ""),
            (Key.tlsRequired, server.tls?.required == true ? "yes" : "no"),
            (Key.tlsTrustCertificateFile, server.tls?.trustCertificateFile ?? ""),
        ]
        let values =
            Self.parameterTable.map { ($0.path, $0.value(self)) } + tls + server.monitor.values + logOutput.values
        for (name, value) in values { effective.set(name, value) }
        return effective
    }

    /// The parameter names this server reads (others are kept and reported but have no effect).
    public enum Key {
        public static let bindAddress = "/PsEPRServer/identity/bindAddress"
        public static let hostname = "/PsEPRServer/identity/hostname"
        public static let clientPort = "/PsEPRServer/client/XMPP/port"
        public static let maximumConnections = "/PsEPRServer/client/XMPP/maximumConnections"
        public static let maximumUnauthenticatedConnections = "/PsEPRServer/limits/maximumUnauthenticatedConnections"
        public static let clientPendingBudgetBytes = "/PsEPRServer/client/XMPP/pendingBudgetBytes"
        public static let clientWriteDeadlineSeconds = "/PsEPRServer/client/XMPP/writeDeadlineSeconds"
        public static let clientStallSeconds = "/PsEPRServer/client/XMPP/stallSeconds"
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
        public static let tlsCertificateFile = "/PsEPRServer/tls/certificateFile"
        public static let tlsKeyFile = "/PsEPRServer/tls/keyFile"
        public static let tlsRequired = "/PsEPRServer/tls/required"
        public static let tlsTrustCertificateFile = "/PsEPRServer/tls/trustCertificateFile"
        public static let serviceName = "/PsEPRServer/identity/name"
        public static let instance = "/PsEPRServer/identity/instance"
        public static let peerConfigurationFormat = "/PsEPRServer/peer/leasePeer/configurationFormat"
        public static let peerConfigurationService = "/PsEPRServer/peer/leasePeer/configurationService"
        public static let peerConfigurationChannel = "/PsEPRServer/peer/leasePeer/configurationChannel"
        public static let peerPendingBudgetBytes = "/PsEPRServer/peer/leasePeer/pendingBudgetBytes"
        public static let peerWriteDeadlineSeconds = "/PsEPRServer/peer/leasePeer/writeDeadlineSeconds"
        public static let peerStallSeconds = "/PsEPRServer/peer/leasePeer/stallSeconds"
        public static let peerKeepAliveSeconds = "/PsEPRServer/peer/leasePeer/keepAliveSeconds"
        public static let peerReconnectMinimumSeconds = "/PsEPRServer/peer/leasePeer/reconnectMinimumSeconds"
        public static let peerReconnectMaximumSeconds = "/PsEPRServer/peer/leasePeer/reconnectMaximumSeconds"
        public static let statusChannel = "/PsEPRServer/service/statusReporter/channel"
        public static let statusPeriodSeconds = "/PsEPRServer/service/statusReporter/periodSeconds"
        public static let statusClientConnections = "/PsEPRServer/service/statusReporter/clientConnections/include"
        public static let statusPeerConnections = "/PsEPRServer/service/statusReporter/peerConnections/include"
        public static let statusRouteTable = "/PsEPRServer/service/statusReporter/routeTable/include"
        public static let statusServiceTraffic = "/PsEPRServer/service/statusReporter/service/include"
        public static let statusServiceExpireMinutes = "/PsEPRServer/service/statusReporter/serviceExpireMinutes"
        public static let discoveryChannel = "/PsEPRServer/service/discovery/channel"
        public static let discoveryPeriodSeconds = "/PsEPRServer/service/discovery/periodSeconds"
        public static let accountingChannel = "/PsEPRServer/service/accounting/channel"
        public static let accountingService = "/PsEPRServer/service/accounting/service"
        public static let commandsChannel = "/PsEPRServer/service/commands/updateChannel"
        public static let parameterReportChannel = "/PsEPRServer/service/commands/reportChannel"
        public static let commandsService = "/PsEPRServer/service/commands/service"
    }

    /// Copies the parameter `name` from `checked` into `configuration` if it may change while the
    /// server runs; returns whether it did. Others are recorded and reported but wait for a restart.
    static func applyLive(
        _ name: String,
        from checked: EventServerConfiguration,
        to configuration: inout EventServerConfiguration
    ) -> Bool {
        guard let apply = parametersByPath[name.lowercased()]?.applyLive else { return false }
        apply(checked, &configuration)
        return true
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
    /// must exist), later values overriding earlier ones. What has no effect is collected in
    /// ``warnings``.
    ///
    /// - Parameter strict: refuse files with anything in ``warnings`` instead.
    /// - Throws: ``SettingsError`` naming the file that cannot be read or parsed (or, when
    ///   `strict`, every warning), or ``ParameterError`` for a value of the wrong kind.
    public static func load(
        searchPath: [String] = searchPath(),
        configurationFiles: [String] = [],
        strict: Bool = false
    ) throws -> ServerSettings {
        var parameters = ParameterSet()
        var sources: [String] = []
        var warnings: [String] = []
        for path in searchPath where FileManager.default.fileExists(atPath: path) {
            warnings += try read(path, into: &parameters)
            sources.append(path)
        }
        for configurationFile in configurationFiles {
            guard FileManager.default.fileExists(atPath: configurationFile) else {
                throw SettingsError(message: "the configuration file \(configurationFile) does not exist")
            }
            warnings += try read(configurationFile, into: &parameters)
            sources.append(configurationFile)
        }
        if strict && !warnings.isEmpty {
            throw SettingsError(message: (warnings + ["(refused because of --strict)"]).joined(separator: "\n"))
        }
        var settings = try ServerSettings(parameters: parameters)
        settings.sources = sources
        settings.warnings = warnings
        settings.server.parameters = settings.effectiveParameters
        if let accountFile = settings.accountFile {
            do {
                settings.server.accounts = try AccountTable(contentsOfFile: accountFile)
            } catch {
                throw SettingsError(message: "\(Key.accountFile): \(error)")
            }
        }
        return settings
    }

    /// Merges one file into `parameters`; returns its warnings.
    private static func read(_ path: String, into parameters: inout ParameterSet) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsError(message: "cannot read \(path)")
        }
        let file: ParameterSet
        do {
            file = try ParameterSet(xml: data)
        } catch {
            throw SettingsError(message: "\(path) is not a parameter file: \(error)")
        }
        for (name, value) in file.all { parameters.set(name, value) }
        return ParameterFileCheck.warnings(for: file, source: path)
    }
}

/// A configuration file that cannot be used.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the file.
    public let message: String
    public var description: String { message }
}
