public import PsEPRCore

/// A PsEPR server's settings, with the Server Guide's defaults where it gives them (parameter
/// names in brackets are the `PsEPRServer.xml` paths).
public struct EventServerConfiguration: Sendable {
    /// Address to bind the listeners to.
    public var host: String = "0.0.0.0"
    /// Client (XMPP-like) port [`/PsEPRServer/client/XMPP/port`], 23345; 0 picks a free port.
    public var clientPort: Int = 23345
    /// OneEvent port [`/PsEPRServer/client/oneEvent/port`], 23343; 0 picks a free port.
    public var oneEventPort: Int = 23343
    /// The name the server gives itself in stream headers and grants [`/PsEPRServer/identity/hostname`].
    public var serverName: String = "localhost"
    /// Most client connections at once [`/PsEPRServer/client/XMPP/maximumConnections`], 400.
    public var maximumConnections: Int = 400
    /// Most connections on each listener (client, OneEvent, LeasePeer) that have not
    /// authenticated yet [`/PsEPRServer/limits/maximumUnauthenticatedConnections`], 128. When a
    /// listener reaches it, its longest-waiting unauthenticated connection is closed.
    public var maximumUnauthenticatedConnections: Int = 128
    /// Each client connection's pending byte budget, write deadline and stall time
    /// [`/PsEPRServer/client/XMPP/pendingBudgetBytes`, `…/writeDeadlineSeconds`, `…/stallSeconds`]:
    /// 8 MiB (3.2 GiB at most at 400 connections that all stop reading), 5 s, 2 s.
    public var flow = FlowControl.clientDefault
    /// Shortest lease granted, seconds [`/PsEPRServer/client/lease/minSeconds`], 30.
    public var leaseMinimumSeconds: Int = 30
    /// Longest lease granted, seconds [`/PsEPRServer/client/lease/maxSeconds`], 3600.
    public var leaseMaximumSeconds: Int = 3600
    /// Most leases one connection may hold.
    public var maximumLeasesPerConnection: Int = 256
    /// Seconds of silence after which a connection is closed (clients keep alive with whitespace).
    public var idleTimeoutSeconds: Int = 600
    /// Seconds a new connection has to authenticate.
    public var authenticationTimeoutSeconds: Int = 30
    /// Seconds between Gleaner sweeps of expired leases.
    public var gleanerPeriodSeconds: Double = 5
    /// Accounts that may log in; `nil` runs open (any name and password), as the original did.
    public var accounts: AccountTable?
    /// Bounds on client stanzas.
    public var limits = XMLStreamFramer.Limits()
    /// Largest OneEvent document, bytes.
    public var oneEventMaximumBytes: Int = 256 << 10
    /// Seconds a OneEvent sender has to send its document.
    public var oneEventTimeoutSeconds: Int = 30
    /// The server's instance name in the events it sends [`/PsEPRServer/identity/instance`];
    /// empty means the host name.
    public var instance: String = ""
    /// The service name the server sends its own events as [`/PsEPRServer/identity/name`].
    public var serviceName: String = "PsEPRServer"
    /// STARTTLS on the client port and TLS on peer links; off when `nil`.
    public var tls: TLSSettings?
    /// The LeasePeer mesh; off unless ``PeerSettings/configurationURL`` is set.
    public var peer = PeerSettings()
    /// The built-in services.
    public var services = ServiceSettings()
    /// The monitoring port: metrics, health, status (off unless a port is set).
    public var monitor = MonitorSettings()
    /// Every parameter in effect, as `psepr server --print-parameters` shows them (for the
    /// parameter report); empty when the configuration was built in code.
    public var parameters = ParameterSet()

    /// The defaults.
    public init() {}

    /// The granted length of a lease request: the request clamped to the configured bounds
    /// (the maximum when none was asked for).
    func grantedSeconds(requested: Int?) -> Int {
        min(max(requested ?? leaseMaximumSeconds, leaseMinimumSeconds), leaseMaximumSeconds)
    }
}
