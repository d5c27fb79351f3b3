/// The built-in services' settings (parameter names in brackets are `PsEPRServer.xml` paths).
/// The channel defaults are this implementation's choice (the original's were not recovered).
public struct ServiceSettings: Sendable, Hashable {
    /// Heartbeat channel [`/PsEPRServer/service/statusReporter/channel`].
    public var statusChannel = "/org/psepr/server/status/"
    /// Seconds between heartbeats [`/PsEPRServer/service/statusReporter/periodSeconds`], 300.
    public var statusPeriodSeconds: Double = 300
    /// List client connections [`/PsEPRServer/service/statusReporter/clientConnections/include`], no.
    public var statusIncludesClientConnections = false
    /// List peer connections [`/PsEPRServer/service/statusReporter/peerConnections/include`], no.
    public var statusIncludesPeerConnections = false
    /// Include the route table [`/PsEPRServer/service/statusReporter/routeTable/include`], no.
    public var statusIncludesRouteTable = false
    /// Include per-service traffic [`/PsEPRServer/service/statusReporter/service/include`], yes.
    public var statusIncludesServiceTraffic = true
    /// Minutes a service's traffic stays in reports after its last connection closed
    /// [`/PsEPRServer/service/statusReporter/serviceExpireMinutes`], 60.
    public var serviceExpireMinutes: Double = 60
    /// Discovery channel [`/PsEPRServer/service/discovery/channel`].
    public var discoveryChannel = "/org/psepr/server/discovery/"
    /// Seconds between discovery announcements [`/PsEPRServer/service/discovery/periodSeconds`], 300.
    public var discoveryPeriodSeconds: Double = 300
    /// Account-table channel [`/PsEPRServer/service/accounting/channel`].
    public var accountingChannel = "/org/psepr/server/accounting/"
    /// The only service whose account tables are accepted [`/PsEPRServer/service/accounting/service`];
    /// none accepts no table from the channel.
    public var accountingService: String?
    /// Parameter-command channel [`/PsEPRServer/service/commands/updateChannel`].
    public var commandsChannel = "/org/psepr/server/parameter/update/"
    /// Parameter-report channel [`/PsEPRServer/service/commands/reportChannel`].
    public var parameterReportChannel = "/org/psepr/server/parameter/report/"
    /// The only service whose commands are obeyed [`/PsEPRServer/service/commands/service`];
    /// none obeys no command.
    public var commandsService: String?

    /// The defaults.
    public init() {}

    /// Heartbeat payload namespace.
    public static let heartbeatNamespace = "http://dsmt.org/schema/psepr/payload/PsEPRServer/heartbeat-1.0"
    /// Discovery payload namespace.
    public static let discoveryNamespace = "http://dsmt.org/schema/psepr/payload/PsEPRServer/discovery-1.0"
    /// Account-table payload namespace.
    public static let accountingNamespace = "http://dsmt.org/schema/psepr/payload/PsEPRServer/accounting-1.0"
    /// Parameter-command payload namespace.
    public static let commandsNamespace = "http://psepr.org/xs/psepr/server/parameter"
    /// Parameter-report payload namespace.
    public static let parameterReportNamespace = "http://dsmt.org/schema/psepr/payload/PsEPRServer/parameters-1.0"
}
