import PsEPRCore

/// How one kind of parameter text is read (over the value in effect, which an absent or empty
/// parameter keeps) and written back for the parameter report.
struct ParameterKind<Value: Sendable>: Sendable {
    let read: @Sendable (_ parameters: ParameterSet, _ name: String, _ current: Value) throws -> Value
    let format: @Sendable (Value) -> String
}

extension ParameterKind where Value == String {
    static let text = ParameterKind(read: { p, name, current in p.string(name, default: current) }, format: { $0 })

    /// A channel name such as `/org/example/`.
    static let channel = ParameterKind(
        read: { p, name, current in
            let text = p.string(name, default: current)
            guard (try? ChannelName(text)) != nil else {
                throw ParameterError(name: name, value: text, expected: "a channel name such as /org/example/")
            }
            return text
        },
        format: { $0 }
    )
}

extension ParameterKind where Value == String? {
    /// Text whose absence means "none" (an empty value too).
    static let optionalText = ParameterKind(
        read: { p, name, _ in p[name].flatMap { $0.isEmpty ? nil : $0 } },
        format: { $0 ?? "" }
    )
}

extension ParameterKind where Value == Int {
    static let positive = ParameterKind(
        read: { p, name, current in
            let value = try p.integer(name, default: current)
            guard value > 0 else { throw ParameterError(name: name, value: "\(value)", expected: "a positive integer") }
            return value
        },
        format: { "\($0)" }
    )

    static let port = ParameterKind(
        read: { p, name, current in
            let value = try p.integer(name, default: current)
            guard (0...65535).contains(value) else {
                throw ParameterError(name: name, value: "\(value)", expected: "a port number (0 picks a free one)")
            }
            return value
        },
        format: { "\($0)" }
    )
}

extension ParameterKind where Value == Double {
    /// A positive number of seconds, at most a year: times become nanosecond counts, which
    /// longer ones overflow.
    static let seconds = ParameterKind(
        read: { p, name, current in
            guard let text = p[name], !text.isEmpty else { return current }
            guard let value = Double(text), value > 0, value <= 31_536_000 else {
                throw ParameterError(
                    name: name,
                    value: text,
                    expected: "a positive number of seconds, at most 31536000 (a year)"
                )
            }
            return value
        },
        format: { $0 == $0.rounded() ? "\(Int($0))" : "\($0)" }
    )

    /// Whole seconds, written as a positive integer.
    static let wholeSeconds = ParameterKind(
        read: { p, name, current in Double(try ParameterKind<Int>.positive.read(p, name, Int(current))) },
        format: { "\(Int($0))" }
    )
}

extension ParameterKind where Value == Bool {
    static let yesNo = ParameterKind(
        read: { p, name, current in try p.boolean(name, default: current) },
        format: { $0 ? "yes" : "no" }
    )
}

extension ParameterKind where Value == LogCategory {
    /// A 32-bit category mask, written in hexadecimal as the Server Guide does.
    static let mask = ParameterKind(
        read: { p, name, current in
            let value = try p.integer(name, default: Int(current.rawValue))
            guard let bits = UInt32(exactly: value) else {
                throw ParameterError(name: name, value: "\(value)", expected: "a 32-bit mask")
            }
            return LogCategory(rawValue: bits)
        },
        format: { "0x" + String($0.rawValue, radix: 16, uppercase: true) }
    )
}

/// One parameter of `PsEPRServer.xml`, described once: its path, how it is read into the
/// settings and reported back, and whether a parameter command may change it while the server
/// runs.
struct ParameterDescriptor: Sendable {
    let path: String
    let read: @Sendable (ParameterSet, inout ServerSettings) throws -> Void
    let value: @Sendable (ServerSettings) -> String
    /// Copies the value from a checked configuration into the one in effect; nil when the
    /// parameter waits for a restart.
    let applyLive: (@Sendable (EventServerConfiguration, inout EventServerConfiguration) -> Void)?

    /// A parameter of the event server's configuration.
    static func server<Value>(
        _ path: String,
        _ keyPath: any WritableKeyPath<EventServerConfiguration, Value> & Sendable,
        _ kind: ParameterKind<Value>,
        live: Bool = false
    ) -> ParameterDescriptor {
        let read: @Sendable (ParameterSet, inout ServerSettings) throws -> Void = { p, settings in
            settings.server[keyPath: keyPath] = try kind.read(p, path, settings.server[keyPath: keyPath])
        }
        let value: @Sendable (ServerSettings) -> String = { kind.format($0.server[keyPath: keyPath]) }
        let apply: @Sendable (EventServerConfiguration, inout EventServerConfiguration) -> Void = {
            checked,
            configuration in
            configuration[keyPath: keyPath] = checked[keyPath: keyPath]
        }
        return ParameterDescriptor(path: path, read: read, value: value, applyLive: live ? apply : nil)
    }

    /// A parameter of the server process around it (logging, the account file).
    static func process<Value>(
        _ path: String,
        _ keyPath: any WritableKeyPath<ServerSettings, Value> & Sendable,
        _ kind: ParameterKind<Value>
    ) -> ParameterDescriptor {
        let read: @Sendable (ParameterSet, inout ServerSettings) throws -> Void = { p, settings in
            settings[keyPath: keyPath] = try kind.read(p, path, settings[keyPath: keyPath])
        }
        let value: @Sendable (ServerSettings) -> String = { kind.format($0[keyPath: keyPath]) }
        return ParameterDescriptor(path: path, read: read, value: value, applyLive: nil)
    }
}

extension ServerSettings {
    typealias K = Key

    /// Every parameter this server reads with a value of its own, in the order they are read
    /// (the first bad one is the one named). TLS, monitoring and the log's output format have
    /// rules across several parameters and read their own.
    static let parameterTable: [ParameterDescriptor] = [
        .server(K.bindAddress, \.host, .text),
        .server(K.hostname, \.serverName, .text),
        .server(K.clientPort, \.clientPort, .port),
        .server(K.maximumConnections, \.maximumConnections, .positive, live: true),
        .server(K.maximumUnauthenticatedConnections, \.maximumUnauthenticatedConnections, .positive),
        .server(K.clientPendingBudgetBytes, \.flow.pendingBudgetBytes, .positive),
        .server(K.clientWriteDeadlineSeconds, \.flow.writeDeadlineSeconds, .seconds),
        .server(K.clientStallSeconds, \.flow.stallSeconds, .seconds),
        .server(K.idleTimeoutSeconds, \.idleTimeoutSeconds, .positive),
        .server(K.authenticationTimeoutSeconds, \.authenticationTimeoutSeconds, .positive),
        .server(K.maximumLeases, \.maximumLeasesPerConnection, .positive, live: true),
        .server(K.maximumStanzaBytes, \.limits.maximumStanzaBytes, .positive),
        .server(K.leaseMinimumSeconds, \.leaseMinimumSeconds, .positive, live: true),
        .server(K.leaseMaximumSeconds, \.leaseMaximumSeconds, .positive, live: true),
        .server(K.gleanerPeriodSeconds, \.gleanerPeriodSeconds, .wholeSeconds),
        .server(K.oneEventPort, \.oneEventPort, .port),
        .server(K.oneEventMaximumBytes, \.oneEventMaximumBytes, .positive),
        .server(K.oneEventTimeoutSeconds, \.oneEventTimeoutSeconds, .positive),
        .process(K.logDirectory, \.logDirectory, .text),
        .process(K.filterLevel, \.logFilter, .mask),
        .process(K.logMaximumFiles, \.logMaximumFiles, .positive),
        .process(K.logMaximumFileBytes, \.logMaximumFileBytes, .positive),
        .process(K.accountFile, \.accountFile, .optionalText),
        .server(K.serviceName, \.serviceName, .text),
        .server(K.instance, \.instance, .text),
        .server(K.peerConfigurationURL, \.peer.configurationURL, .optionalText),
        .server(K.peerConfigurationFormat, \.peer.configurationFormat, .text),
        .server(K.peerPort, \.peer.port, .port),
        .server(K.peerConfigurationCheckSeconds, \.peer.configurationCheckSeconds, .seconds),
        .server(K.peerLeaseSeconds, \.peer.leaseSeconds, .positive),
        .server(K.peerConfigurationService, \.peer.configurationService, .optionalText),
        .server(K.peerConfigurationChannel, \.peer.configurationChannel, .channel),
        .server(K.peerPendingBudgetBytes, \.peer.flow.pendingBudgetBytes, .positive),
        .server(K.peerWriteDeadlineSeconds, \.peer.flow.writeDeadlineSeconds, .seconds),
        .server(K.peerStallSeconds, \.peer.flow.stallSeconds, .seconds),
        .server(K.peerKeepAliveSeconds, \.peer.keepAliveSeconds, .seconds),
        .server(K.peerReconnectMinimumSeconds, \.peer.reconnectMinimumSeconds, .seconds),
        .server(K.peerReconnectMaximumSeconds, \.peer.reconnectMaximumSeconds, .seconds),
        .server(K.statusChannel, \.services.statusChannel, .channel),
        .server(K.statusPeriodSeconds, \.services.statusPeriodSeconds, .seconds, live: true),
        .server(K.statusClientConnections, \.services.statusIncludesClientConnections, .yesNo, live: true),
        .server(K.statusPeerConnections, \.services.statusIncludesPeerConnections, .yesNo, live: true),
        .server(K.statusRouteTable, \.services.statusIncludesRouteTable, .yesNo, live: true),
        .server(K.statusServiceTraffic, \.services.statusIncludesServiceTraffic, .yesNo, live: true),
        .server(K.statusServiceExpireMinutes, \.services.serviceExpireMinutes, .seconds, live: true),
        .server(K.discoveryChannel, \.services.discoveryChannel, .channel),
        .server(K.discoveryPeriodSeconds, \.services.discoveryPeriodSeconds, .seconds, live: true),
        .server(K.accountingChannel, \.services.accountingChannel, .channel),
        .server(K.accountingService, \.services.accountingService, .optionalText),
        .server(K.commandsChannel, \.services.commandsChannel, .channel),
        .server(K.parameterReportChannel, \.services.parameterReportChannel, .channel),
        .server(K.commandsService, \.services.commandsService, .optionalText),
    ]

    /// The table's entries by lower-cased path.
    static let parametersByPath: [String: ParameterDescriptor] = Dictionary(
        parameterTable.map { ($0.path.lowercased(), $0) },
        uniquingKeysWith: { first, _ in first }
    )
}
