/// The LeasePeer mesh's settings (parameter names in brackets are `PsEPRServer.xml` paths).
public struct PeerSettings: Sendable, Hashable {
    /// Peer listener port [`/PsEPRServer/peer/leasePeer/port`], 23341; 0 picks a free port.
    public var port: Int = PeerSettings.defaultPort
    /// Where `LeasePeer.xml` comes from: a file path, a `file:` URL or an http(s) URL
    /// [`/PsEPRServer/peer/leasePeer/configurationURL`]. No mesh when `nil`.
    public var configurationURL: String?
    /// The file's format [`/PsEPRServer/peer/leasePeer/configurationFormat`]; only PERSITE exists.
    public var configurationFormat: String = "PERSITE"
    /// Seconds between re-reads of the file, ±2 s [`/PsEPRServer/peer/leasePeer/configurationCheckSeconds`], 300.
    public var configurationCheckSeconds: Double = 300
    /// Length of the leases this server takes on its peers [`/PsEPRServer/peer/leasePeer/leaseSeconds`], 600;
    /// renewed at half that.
    public var leaseSeconds: Int = 600
    /// The only service whose events on ``configurationChannel`` may replace the peer list
    /// [`/PsEPRServer/peer/leasePeer/configurationService`]; none accepts no list from the channel.
    public var configurationService: String?
    /// The channel carrying peer lists [`/PsEPRServer/peer/leasePeer/configurationChannel`].
    public var configurationChannel: String = "/org/psepr/server/leasepeer/servers/"
    /// Each peer link's pending byte budget, write deadline and stall time
    /// [`/PsEPRServer/peer/leasePeer/pendingBudgetBytes`, `…/writeDeadlineSeconds`, `…/stallSeconds`]: 32 MiB, 10 s, 2 s.
    public var flow = FlowControl.peerDefault
    /// Seconds between pings on a quiet link; a link silent for three times this is closed
    /// [`/PsEPRServer/peer/leasePeer/keepAliveSeconds`], 30.
    public var keepAliveSeconds: Double = 30
    /// First wait before re-dialling a peer, doubling to the maximum [`/PsEPRServer/peer/leasePeer/reconnectMinimumSeconds`], 1.
    public var reconnectMinimumSeconds: Double = 1
    /// Longest wait between dials [`/PsEPRServer/peer/leasePeer/reconnectMaximumSeconds`], 60.
    public var reconnectMaximumSeconds: Double = 60
    /// Most leases one peer may hold here.
    public var maximumLeasesPerPeer: Int = 100_000

    /// The defaults.
    public init() {}

    /// The LeasePeer port, and the port of a peer listed without one.
    public static let defaultPort = 23341

    /// The peer-list namespace on ``configurationChannel``.
    public static let configurationNamespace = "http://psepr.org/xs/lease/peer/servers"
}
