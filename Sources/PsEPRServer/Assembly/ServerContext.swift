import Foundation
import Logging
import NIOCore
import PsEPRCore
import Synchronization

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

    init(
        router: EventRouter,
        live: LiveConfiguration,
        logger: Logger,
        logControl: LogControl?,
        mesh: PeerMesh?,
        clock: any Clock<Duration>
    ) {
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
            logger.log(
                .badError,
                .error,
                "A service's channel is not a valid channel name",
                metadata: ["psepr.channel": "\(channel)"]
            )
            return
        }
        let event = Event(
            id: "\(idPrefix)-\(RandomText.alphanumeric(8))",
            channel: channel,
            fromService: configuration.serviceName,
            fromInstance: configuration.instance.isEmpty ? configuration.serverName : configuration.instance,
            payloadNamespace: namespace,
            payload: Array(payload.utf8)
        )
        router.route(event)
    }
}
