import Foundation
import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// The configuration in effect, which parameter commands and account tables change while the
/// server runs. Connections take a snapshot when they open; services read it each cycle.
public final class LiveConfiguration: Sendable {
    private let value: Mutex<EventServerConfiguration>

    /// Starts from `configuration`.
    public init(_ configuration: EventServerConfiguration) { value = Mutex(configuration) }

    /// The configuration now.
    public var current: EventServerConfiguration { value.withLock { $0 } }

    /// Changes the configuration.
    public func update<T>(_ change: (inout EventServerConfiguration) throws -> T) rethrows -> T {
        try value.withLock { try change(&$0) }
    }
}

/// The addresses the listeners bound (ports chosen at start-up when configured as 0).
public struct BoundPorts: Sendable, Hashable {
    /// The client (XMPP-like) port.
    public var client: Int?
    /// The OneEvent port.
    public var oneEvent: Int?
    /// The LeasePeer port, when the mesh runs.
    public var leasePeer: Int?
    /// The monitoring port, when enabled.
    public var monitor: Int?

    /// None bound yet.
    public init() {}

    /// The port `listener` bound, if it has.
    func port(of listener: EventServer.Listener) -> Int? {
        switch listener {
        case .client: client
        case .oneEvent: oneEvent
        case .leasePeer: leasePeer
        case .monitor: monitor
        }
    }

    /// Notes the port `listener` bound.
    public mutating func record(_ listener: EventServer.Listener, port: Int) {
        switch listener {
        case .client: client = port
        case .oneEvent: oneEvent = port
        case .leasePeer: leasePeer = port
        case .monitor: monitor = port
        }
    }

    /// Whether every listener a server with this configuration opens is bound.
    public func isComplete(withLeasePeer: Bool, withMonitor: Bool) -> Bool {
        client != nil && oneEvent != nil && (!withLeasePeer || leasePeer != nil) && (!withMonitor || monitor != nil)
    }

    /// Whether every listener of `configuration` is bound.
    public func isComplete(for configuration: EventServerConfiguration) -> Bool {
        isComplete(withLeasePeer: configuration.peer.configurationURL != nil, withMonitor: configuration.monitor.port != nil)
    }

    /// The ports reported on `reports` once every listener is up (the LeasePeer one only when
    /// `withLeasePeer`), or as far as they got if the reports end first (a server that failed).
    public static func awaitAll(_ reports: AsyncStream<(EventServer.Listener, Int)>, withLeasePeer: Bool, withMonitor: Bool = false) async -> BoundPorts {
        var bound = BoundPorts()
        var iterator = reports.makeAsyncIterator()
        while !bound.isComplete(withLeasePeer: withLeasePeer, withMonitor: withMonitor), let (listener, port) = await iterator.next() {
            bound.record(listener, port: port)
        }
        return bound
    }
}

/// The debug log's live controls: the category filter and the file to reopen
/// (`resetLogfile`). Shared by the log handler and the command service.
public final class LogControl: Sendable {
    private let filterBits: Atomic<UInt32>
    /// The rotating files, if logging to files.
    public let file: RotatingLogFile?

    /// Creates controls with an initial filter.
    public init(filter: LogCategory, file: RotatingLogFile?) {
        filterBits = Atomic(filter.rawValue)
        self.file = file
    }

    /// The categories logged (BADERROR always is).
    public var filter: LogCategory {
        get { LogCategory(rawValue: filterBits.load(ordering: .relaxed)) }
        set { filterBits.store(newValue.rawValue, ordering: .relaxed) }
    }
}

/// What the server's parts share: the router, the live configuration, the bound ports, the log
/// controls and a logger.
final class ServerContext: Sendable {
    let router: EventRouter
    let live: LiveConfiguration
    let logger: Logger
    let logControl: LogControl?
    let startDate = Date()
    private let ports = Mutex(BoundPorts())
    /// Asks the status reporter for a heartbeat now.
    let statusRequests: AsyncStream<Void>
    let statusSignal: AsyncStream<Void>.Continuation
    /// The mesh, when configured.
    let mesh: PeerMesh?
    /// What the periodic services wait on (heartbeats, discovery, the mesh's timers).
    let clock: any Clock<Duration>

    init(router: EventRouter, live: LiveConfiguration, logger: Logger, logControl: LogControl?, mesh: PeerMesh?, clock: any Clock<Duration>) {
        self.clock = clock
        self.router = router
        self.live = live
        self.logger = logger
        self.logControl = logControl
        self.mesh = mesh
        (statusRequests, statusSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var boundPorts: BoundPorts { ports.withLock { $0 } }

    func bound(_ listener: EventServer.Listener, _ address: SocketAddress) {
        ports.withLock { $0.record(listener, port: address.port ?? 0) }
    }

    /// Sends an event from the server itself (`from/service` = its service name), to local
    /// subscribers and peers.
    func publish(channel: String, namespace: String, payload: String, idPrefix: String) {
        let configuration = live.current
        guard let channel = try? ChannelName(channel) else {
            logger.log(.badError, .error, "A service's channel is not a valid channel name", metadata: ["psepr.channel": "\(channel)"])
            return
        }
        let event = Event(
            id: "\(idPrefix)-\(Self.randomString(8))", channel: channel, fromService: configuration.serviceName,
            fromInstance: configuration.instance.isEmpty ? configuration.serverName : configuration.instance,
            payloadNamespace: namespace, payload: Array(payload.utf8)
        )
        router.route(event)
    }

    static func randomString(_ length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<length).map { _ in alphabet.randomElement()! })
    }
}
