import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PsEPRCore
import ServerOperations
import ServiceLifecycle

/// The LeasePeer mesh (port 23341): listens for peers, dials the peers it should (the lower ID
/// of each pair dials, with back-off), re-reads `LeasePeer.xml` every
/// `configurationCheckSeconds` ± 2 s, takes peer lists from the configuration channel when the
/// configured service sends them, keeps each link's leases in line with local interests,
/// renews them at half their length and pings quiet links.
struct LeasePeerService: Service {
    let mesh: PeerMesh
    /// Accepted links that have not passed the handshake yet.
    let admission: AdmissionControl
    /// TLS on every link, accepted and dialled, when a certificate is configured (every server
    /// of a mesh must agree).
    let tls: ServerTLS?
    /// Times reconnection pauses, lease renewal, pings and configuration checks.
    let clock: any Clock<Duration>
    let onListening: @Sendable (SocketAddress) async -> Void

    private var settings: PeerSettings { mesh.settings }
    private var logger: Logger { mesh.logger }

    func run() async throws {
        let server = try await bindPeerListener()
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { group in
                    group.addTask { await refreshConfiguration() }
                    group.addTask { await takeConfigurationEvents() }
                    group.addTask { for await _ in mesh.router.interestChanges() { mesh.reconcile() } }
                    group.addTask {
                        await repeatEvery(seconds: Double(settings.leaseSeconds) / 2, on: clock) { mesh.renewLeases() }
                    }
                    group.addTask { await repeatEvery(seconds: settings.keepAliveSeconds, on: clock) { mesh.ping() } }
                    // One task per peer this server dials, started as peers appear.
                    for await _ in mesh.dialTargetsChanged {
                        for id in mesh.dialTargets where mesh.beginDialling(id) {
                            group.addTask {
                                await maintainLink(to: id)
                                mesh.endDialling(id)
                            }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            // Links and listener close first, so the tasks waiting on them end with the group.
            server.close(promise: nil)
            mesh.closeAll()
        }
        server.close(promise: nil)
        mesh.closeAll()
    }

    private func bindPeerListener() async throws -> any Channel {
        let mesh = self.mesh
        let keepAlive = settings.keepAliveSeconds
        let tls = self.tls
        return try await bindListener(
            admission: admission,
            host: mesh.bindHost,
            port: settings.port,
            parameter: ServerSettings.Key.peerPort,
            logger: logger,
            onListening: onListening
        ) { channel in
            if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.server)) }
            try Self.addHandlers(to: channel, mesh: mesh, keepAlive: keepAlive, direction: .accepted, established: nil)
        }
    }

    static func addHandlers(
        to channel: any Channel,
        mesh: PeerMesh,
        keepAlive: Double,
        direction: PeerHandshake.Direction,
        established: EventLoopPromise<Void>?
    ) throws {
        let handlers = channel.pipeline.syncOperations
        try handlers.addHandler(IdleStateHandler(readTimeout: .milliseconds(Int64(keepAlive * 3000))))
        let gate = ReadGate(channel: channel)
        try handlers.addHandler(gate)
        try handlers.addHandler(ByteToMessageHandler(XMLStreamFramer(mode: .stream, limits: mesh.limits)))
        try handlers.addHandler(PeerLinkHandler(mesh: mesh, direction: direction, gate: gate, established: established))
    }

    /// Keeps a link to peer `id` while this server should dial it: dials, waits for the link to
    /// end, and dials again after a back-off that doubles on each failure (with jitter, so a
    /// returning peer is not hit by every server at once).
    private func maintainLink(to id: String) async {
        let backoff = Backoff(
            initial: .seconds(settings.reconnectMinimumSeconds),
            maximum: .seconds(settings.reconnectMaximumSeconds)
        )
        // Consecutive failed dials: after a link that came up and closed, or a first failure,
        // the next dial follows the shortest pause; each further failure doubles it.
        var failures = 0
        while !Task.isCancelled, let peer = mesh.dialTarget(id) {
            if let link = mesh.linkChannel(for: id) {
                // Linked already (perhaps by the peer dialling in): wait for that link to end.
                await Self.waitForClose(link)
            } else {
                do {
                    let channel = try await dial(peer)
                    failures = 0
                    await Self.waitForClose(channel)
                } catch {
                    failures += 1
                    logger.log(
                        .peer,
                        .info,
                        "Peer not reached",
                        metadata: [
                            "psepr.peer": "\(id)", "psepr.address": "\(peer.host):\(peer.port)", "error": "\(error)",
                            "psepr.retryWithin": "\(backoff.ceiling(after: failures))",
                        ]
                    )
                }
            }
            try? await clock.sleep(for: backoff.pause(after: failures))
        }
    }

    /// Waits for a link to close; cancellation closes it.
    private static func waitForClose(_ channel: any Channel) async {
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Connects to `peer` and waits for the handshake.
    private func dial(_ peer: PeerEntry) async throws -> any Channel {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let established = loop.makePromise(of: Void.self)
        let mesh = self.mesh
        let keepAlive = settings.keepAliveSeconds
        let tls = self.tls
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            // The peer's certificate must be valid for the host its entry names.
                            let hostname =
                                peer.host.contains(":") || peer.host.allSatisfy({ $0.isNumber || $0 == "." })
                                ? nil : peer.host
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: tls.dialling, serverHostname: hostname)
                            )
                        }
                        try Self.addHandlers(
                            to: channel,
                            mesh: mesh,
                            keepAlive: keepAlive,
                            direction: .dialled(expectedID: peer.id),
                            established: established
                        )
                    }
                }
                .connect(host: peer.host, port: peer.port)
                .get()
        } catch {
            established.fail(error)
            throw error
        }
        try await established.futureResult.get()
        return channel
    }

    /// Reads `LeasePeer.xml` now, every `configurationCheckSeconds` ± 2 s and whenever a reload
    /// is requested. A file that cannot be read leaves the peer list as it was; an unchanged
    /// file is not applied again, so a list sent on the configuration channel stays until the
    /// file itself changes.
    private func refreshConfiguration() async {
        guard let source = settings.configurationURL else { return }
        await withDiscardingTaskGroup { group in
            group.addTask {
                mesh.requestReload()
                await repeatWithPauses(
                    on: clock,
                    pause: { .seconds(max(0.1, settings.configurationCheckSeconds + Double.random(in: -2...2))) }
                ) {
                    mesh.requestReload()
                }
            }
            var lastApplied: [UInt8]?
            for await _ in mesh.reloadRequests {
                do {
                    guard settings.configurationFormat.uppercased() == "PERSITE" else {
                        throw SettingsError(
                            message:
                                "configurationFormat \(settings.configurationFormat) is not supported (only PERSITE)"
                        )
                    }
                    let bytes = try await ConfigurationSource.bytes(at: source)
                    guard bytes != lastApplied else { continue }
                    let configuration = try PeerConfiguration.persite(
                        bytes,
                        hostname: mesh.hostname,
                        defaultPort: PeerSettings.defaultPort
                    )
                    mesh.apply(configuration, source: source)
                    lastApplied = bytes
                } catch {
                    logger.log(
                        .badError,
                        .error,
                        "Cannot read the LeasePeer configuration; keeping the peer list in effect",
                        metadata: ["psepr.source": "\(source)", "error": "\(error)"]
                    )
                }
            }
        }
    }

    /// Applies peer lists sent on the configuration channel by the configured service.
    private func takeConfigurationEvents() async {
        await serveServiceChannel(
            "leasePeerConfiguration",
            router: mesh.router,
            logger: logger,
            channel: settings.configurationChannel,
            namespace: PeerSettings.configurationNamespace,
            from: settings.configurationService,
            what: "a peer list"
        ) { event in
            do {
                let (peers, warnings) = try PeerConfiguration.channelPeers(
                    event.payload,
                    defaultPort: PeerSettings.defaultPort
                )
                var configuration = mesh.configuration
                configuration.peers = peers.filter { $0.id != configuration.ownID }
                configuration.warnings = warnings
                mesh.apply(configuration, source: "channel \(event.channel) from \(event.fromService ?? "")")
            } catch {
                logger.log(.badError, .warning, "Ignored a malformed peer list", metadata: ["error": "\(error)"])
            }
        }
    }
}
