import Foundation
import Hummingbird
import Logging
import NIOCore
import PsEPRCore
import ServerOperations
import ServiceLifecycle

/// The monitoring listener [`/PsEPRServer/monitor/port`], in the spirit of nats-server's:
///
/// | path | answer |
/// | --- | --- |
/// | `/` | the status page: one self-contained HTML page that reloads itself |
/// | `/metrics` | Prometheus text format |
/// | `/healthz` | 200 once every listener is bound, else 503 (JSON either way) |
/// | `/varz` | the server: identity, uptime, listeners, totals (JSON) |
/// | `/connz` | every open connection with its counters (JSON) |
/// | `/leasez` | leases per channel (JSON) |
struct MonitorService: Service {
    let context: ServerContext
    let onListening: @Sendable (SocketAddress) async -> Void

    func run() async throws {
        let settings = context.live.current.monitor
        guard let port = settings.port else { return }
        let context = self.context
        let onListening = self.onListening
        let endpoints = MonitorService.endpoints(context)
        let router = Router()
        endpoints.register(on: router)
        router.get("/varz") { _, _ in MonitorService.json(ServerStatus(context).varz) }
        router.get("/connz") { _, _ in MonitorService.json(ServerStatus(context).connz) }
        router.get("/leasez") { _, _ in MonitorService.json(ServerStatus(context).leasez) }
        router.get("/") { _, _ in
            let page = ServerStatus(context).page(refreshSeconds: context.live.current.monitor.refreshSeconds)
            return MonitoringEndpoints.response(.ok, contentType: "text/html; charset=utf-8", body: Array(page.utf8))
        }
        // Few connections and short timeouts: the port answers scrapers and operators, and must
        // not be held open by anyone else when it is bound beyond loopback.
        let application = Application(
            router: router,
            server: .guardedHTTP1(
                maximumConnections: Self.maximumConnections,
                idleTimeout: .seconds(30),
                requestTimeout: .seconds(10)
            ),
            configuration: .init(address: .hostname(settings.host, port: port), serverName: "psepr-monitor"),
            onServerRunning: { channel in
                guard let address = channel.localAddress else { return }
                context.logger.log(
                    .services,
                    .info,
                    "Listener ready",
                    metadata: ["psepr.listener": "monitor", "psepr.address": "\(address)"]
                )
                await onListening(address)
            },
            logger: context.logger
        )
        try await application.runService()
    }

    /// Monitoring connections open at once; more are closed on accept.
    static let maximumConnections = 64

    /// `/metrics` and `/healthz` over this server's state.
    static func endpoints(_ context: ServerContext) -> MonitoringEndpoints {
        MonitoringEndpoints(
            registry: context.router.metrics.registry,
            refresh: {
                context.router.metrics.refresh(
                    router: context.router,
                    linkedPeers: context.mesh?.linkedPeers.count ?? 0,
                    configuredPeers: context.mesh?.configuration.peers.count ?? 0,
                    uptimeSeconds: -context.startDate.timeIntervalSinceNow
                )
            },
            checks: {
                let ports = context.boundPorts
                let configuration = context.live.current
                var checks = [
                    HealthCheck(
                        name: "listener.client",
                        passing: ports.client != nil,
                        detail: ports.client.map { "port \($0)" } ?? "not bound"
                    ),
                    HealthCheck(
                        name: "listener.oneEvent",
                        passing: ports.oneEvent != nil,
                        detail: ports.oneEvent.map { "port \($0)" } ?? "not bound"
                    ),
                ]
                if configuration.peer.configurationURL != nil {
                    checks.append(
                        HealthCheck(
                            name: "listener.leasePeer",
                            passing: ports.leasePeer != nil,
                            detail: ports.leasePeer.map { "port \($0)" } ?? "not bound"
                        )
                    )
                }
                return checks
            }
        )
    }

    private static func json(_ text: String) -> Response {
        MonitoringEndpoints.response(.ok, contentType: "application/json", body: Array(text.utf8))
    }
}
