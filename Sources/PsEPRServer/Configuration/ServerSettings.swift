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
        server.host = p.string(Key.bindAddress, default: server.host)
        server.serverName = p.string(Key.hostname, default: server.serverName)
        server.clientPort = try port(Key.clientPort, default: server.clientPort)
        server.maximumConnections = try positive(Key.maximumConnections, default: server.maximumConnections)
        server.maximumUnauthenticatedConnections = try positive(Key.maximumUnauthenticatedConnections, default: server.maximumUnauthenticatedConnections)
        server.flow = try flowControl(budget: Key.clientPendingBudgetBytes, deadline: Key.clientWriteDeadlineSeconds, stall: Key.clientStallSeconds, default: server.flow)
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
        accountFile = optional(Key.accountFile)
        switch (optional(Key.tlsCertificateFile), optional(Key.tlsKeyFile)) {
        case (let certificate?, let key?):
            server.tls = TLSSettings(
                certificateFile: certificate, keyFile: key, required: try p.boolean(Key.tlsRequired, default: false),
                trustCertificateFile: optional(Key.tlsTrustCertificateFile)
            )
        case (nil, nil):
            guard try !p.boolean(Key.tlsRequired, default: false) else {
                throw ParameterError(name: Key.tlsRequired, value: "yes", expected: "no without \(Key.tlsCertificateFile) and \(Key.tlsKeyFile)")
            }
        case (nil, _):
            throw ParameterError(name: Key.tlsCertificateFile, value: "", expected: "a PEM certificate file, since \(Key.tlsKeyFile) is set")
        case (_, nil):
            throw ParameterError(name: Key.tlsKeyFile, value: "", expected: "a PEM private key file, since \(Key.tlsCertificateFile) is set")
        }
        server.serviceName = p.string(Key.serviceName, default: server.serviceName)
        server.instance = p.string(Key.instance, default: server.instance)
        var peer = server.peer
        peer.configurationURL = optional(Key.peerConfigurationURL)
        peer.configurationFormat = p.string(Key.peerConfigurationFormat, default: peer.configurationFormat)
        peer.port = try port(Key.peerPort, default: peer.port)
        peer.configurationCheckSeconds = try seconds(Key.peerConfigurationCheckSeconds, default: peer.configurationCheckSeconds)
        peer.leaseSeconds = try positive(Key.peerLeaseSeconds, default: peer.leaseSeconds)
        peer.configurationService = optional(Key.peerConfigurationService)
        peer.configurationChannel = try channel(Key.peerConfigurationChannel, default: peer.configurationChannel)
        peer.flow = try flowControl(budget: Key.peerPendingBudgetBytes, deadline: Key.peerWriteDeadlineSeconds, stall: Key.peerStallSeconds, default: peer.flow)
        peer.keepAliveSeconds = try seconds(Key.peerKeepAliveSeconds, default: peer.keepAliveSeconds)
        peer.reconnectMinimumSeconds = try seconds(Key.peerReconnectMinimumSeconds, default: peer.reconnectMinimumSeconds)
        peer.reconnectMaximumSeconds = try seconds(Key.peerReconnectMaximumSeconds, default: peer.reconnectMaximumSeconds)
        server.peer = peer
        var services = server.services
        services.statusChannel = try channel(Key.statusChannel, default: services.statusChannel)
        services.statusPeriodSeconds = try seconds(Key.statusPeriodSeconds, default: services.statusPeriodSeconds)
        services.statusIncludesClientConnections = try p.boolean(Key.statusClientConnections, default: services.statusIncludesClientConnections)
        services.statusIncludesPeerConnections = try p.boolean(Key.statusPeerConnections, default: services.statusIncludesPeerConnections)
        services.statusIncludesRouteTable = try p.boolean(Key.statusRouteTable, default: services.statusIncludesRouteTable)
        services.statusIncludesServiceTraffic = try p.boolean(Key.statusServiceTraffic, default: services.statusIncludesServiceTraffic)
        services.serviceExpireMinutes = try seconds(Key.statusServiceExpireMinutes, default: services.serviceExpireMinutes)
        services.discoveryChannel = try channel(Key.discoveryChannel, default: services.discoveryChannel)
        services.discoveryPeriodSeconds = try seconds(Key.discoveryPeriodSeconds, default: services.discoveryPeriodSeconds)
        services.accountingChannel = try channel(Key.accountingChannel, default: services.accountingChannel)
        services.accountingService = optional(Key.accountingService)
        services.commandsChannel = try channel(Key.commandsChannel, default: services.commandsChannel)
        services.parameterReportChannel = try channel(Key.parameterReportChannel, default: services.parameterReportChannel)
        services.commandsService = optional(Key.commandsService)
        server.services = services
        server.monitor = try MonitorSettings(parameters: p)
        logOutput = try LogOutputSettings(parameters: p)

        func optional(_ name: String) -> String? {
            p[name].flatMap { $0.isEmpty ? nil : $0 }
        }
        func seconds(_ name: String, default fallback: Double) throws -> Double {
            guard let text = p[name], !text.isEmpty else { return fallback }
            // At most a year: times are turned into nanosecond counts, which longer ones overflow.
            guard let value = Double(text), value > 0, value <= 31_536_000 else {
                throw ParameterError(name: name, value: text, expected: "a positive number of seconds, at most 31536000 (a year)")
            }
            return value
        }
        func channel(_ name: String, default fallback: String) throws -> String {
            let text = p.string(name, default: fallback)
            guard (try? ChannelName(text)) != nil else { throw ParameterError(name: name, value: text, expected: "a channel name such as /org/example/") }
            return text
        }

        func positive(_ name: String, default fallback: Int) throws -> Int {
            let value = try p.integer(name, default: fallback)
            guard value > 0 else { throw ParameterError(name: name, value: "\(value)", expected: "a positive integer") }
            return value
        }
        func flowControl(budget: String, deadline: String, stall: String, default fallback: FlowControl) throws -> FlowControl {
            let flow = FlowControl(
                pendingBudgetBytes: try positive(budget, default: fallback.pendingBudgetBytes),
                writeDeadlineSeconds: try seconds(deadline, default: fallback.writeDeadlineSeconds),
                stallSeconds: try seconds(stall, default: fallback.stallSeconds)
            )
            guard flow.stallSeconds <= flow.writeDeadlineSeconds else {
                throw ParameterError(name: stall, value: "\(flow.stallSeconds)", expected: "at most \(deadline) (\(flow.writeDeadlineSeconds))")
            }
            return flow
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
            (Key.maximumConnections, "\(server.maximumConnections)"), (Key.maximumUnauthenticatedConnections, "\(server.maximumUnauthenticatedConnections)"),
            (Key.clientPendingBudgetBytes, "\(server.flow.pendingBudgetBytes)"),
            (Key.clientWriteDeadlineSeconds, "\(server.flow.writeDeadlineSeconds)"), (Key.clientStallSeconds, "\(server.flow.stallSeconds)"),
            (Key.idleTimeoutSeconds, "\(server.idleTimeoutSeconds)"),
            (Key.authenticationTimeoutSeconds, "\(server.authenticationTimeoutSeconds)"), (Key.maximumLeases, "\(server.maximumLeasesPerConnection)"),
            (Key.maximumStanzaBytes, "\(server.limits.maximumStanzaBytes)"), (Key.leaseMinimumSeconds, "\(server.leaseMinimumSeconds)"),
            (Key.leaseMaximumSeconds, "\(server.leaseMaximumSeconds)"), (Key.gleanerPeriodSeconds, "\(Int(server.gleanerPeriodSeconds))"),
            (Key.oneEventPort, "\(server.oneEventPort)"), (Key.oneEventMaximumBytes, "\(server.oneEventMaximumBytes)"),
            (Key.oneEventTimeoutSeconds, "\(server.oneEventTimeoutSeconds)"), (Key.logDirectory, logDirectory),
            (Key.filterLevel, "0x" + String(logFilter.rawValue, radix: 16, uppercase: true)), (Key.logMaximumFiles, "\(logMaximumFiles)"),
            (Key.logMaximumFileBytes, "\(logMaximumFileBytes)"), (Key.accountFile, accountFile ?? ""),
            (Key.tlsCertificateFile, server.tls?.certificateFile ?? ""), (Key.tlsKeyFile, server.tls?.keyFile ?? ""),
            (Key.tlsRequired, server.tls?.required == true ? "yes" : "no"), (Key.tlsTrustCertificateFile, server.tls?.trustCertificateFile ?? ""),
            (Key.serviceName, server.serviceName), (Key.instance, server.instance),
        ] + Self.peerAndServiceValues(server) + server.monitor.values + logOutput.values
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

    private static func peerAndServiceValues(_ server: EventServerConfiguration) -> [(String, String)] {
        let peer = server.peer, services = server.services
        func number(_ value: Double) -> String { value == value.rounded() ? "\(Int(value))" : "\(value)" }
        func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
        return [
            (Key.peerConfigurationURL, peer.configurationURL ?? ""), (Key.peerConfigurationFormat, peer.configurationFormat),
            (Key.peerPort, "\(peer.port)"), (Key.peerConfigurationCheckSeconds, number(peer.configurationCheckSeconds)),
            (Key.peerLeaseSeconds, "\(peer.leaseSeconds)"), (Key.peerConfigurationService, peer.configurationService ?? ""),
            (Key.peerConfigurationChannel, peer.configurationChannel), (Key.peerPendingBudgetBytes, "\(peer.flow.pendingBudgetBytes)"),
            (Key.peerWriteDeadlineSeconds, number(peer.flow.writeDeadlineSeconds)), (Key.peerStallSeconds, number(peer.flow.stallSeconds)),
            (Key.peerKeepAliveSeconds, number(peer.keepAliveSeconds)), (Key.peerReconnectMinimumSeconds, number(peer.reconnectMinimumSeconds)),
            (Key.peerReconnectMaximumSeconds, number(peer.reconnectMaximumSeconds)),
            (Key.statusChannel, services.statusChannel), (Key.statusPeriodSeconds, number(services.statusPeriodSeconds)),
            (Key.statusClientConnections, yesNo(services.statusIncludesClientConnections)),
            (Key.statusPeerConnections, yesNo(services.statusIncludesPeerConnections)),
            (Key.statusRouteTable, yesNo(services.statusIncludesRouteTable)), (Key.statusServiceTraffic, yesNo(services.statusIncludesServiceTraffic)),
            (Key.statusServiceExpireMinutes, number(services.serviceExpireMinutes)),
            (Key.discoveryChannel, services.discoveryChannel), (Key.discoveryPeriodSeconds, number(services.discoveryPeriodSeconds)),
            (Key.accountingChannel, services.accountingChannel), (Key.accountingService, services.accountingService ?? ""),
            (Key.commandsChannel, services.commandsChannel), (Key.parameterReportChannel, services.parameterReportChannel),
            (Key.commandsService, services.commandsService ?? ""),
        ]
    }

    /// Copies the parameter `name` from `checked` into `configuration` if it may change while the
    /// server runs; returns whether it did. Others are recorded and reported but wait for a restart.
    static func applyLive(_ name: String, from checked: EventServerConfiguration, to configuration: inout EventServerConfiguration) -> Bool {
        switch name.lowercased() {
        case Key.maximumConnections.lowercased(): configuration.maximumConnections = checked.maximumConnections
        case Key.leaseMinimumSeconds.lowercased(): configuration.leaseMinimumSeconds = checked.leaseMinimumSeconds
        case Key.leaseMaximumSeconds.lowercased(): configuration.leaseMaximumSeconds = checked.leaseMaximumSeconds
        case Key.maximumLeases.lowercased(): configuration.maximumLeasesPerConnection = checked.maximumLeasesPerConnection
        case Key.statusPeriodSeconds.lowercased(): configuration.services.statusPeriodSeconds = checked.services.statusPeriodSeconds
        case Key.statusClientConnections.lowercased(): configuration.services.statusIncludesClientConnections = checked.services.statusIncludesClientConnections
        case Key.statusPeerConnections.lowercased(): configuration.services.statusIncludesPeerConnections = checked.services.statusIncludesPeerConnections
        case Key.statusRouteTable.lowercased(): configuration.services.statusIncludesRouteTable = checked.services.statusIncludesRouteTable
        case Key.statusServiceTraffic.lowercased(): configuration.services.statusIncludesServiceTraffic = checked.services.statusIncludesServiceTraffic
        case Key.statusServiceExpireMinutes.lowercased(): configuration.services.serviceExpireMinutes = checked.services.serviceExpireMinutes
        case Key.discoveryPeriodSeconds.lowercased(): configuration.services.discoveryPeriodSeconds = checked.services.discoveryPeriodSeconds
        default: return false
        }
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
    public static func load(searchPath: [String] = searchPath(), configurationFiles: [String] = [], strict: Bool = false) throws -> ServerSettings {
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
        guard let data = FileManager.default.contents(atPath: path) else { throw SettingsError(message: "cannot read \(path)") }
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
