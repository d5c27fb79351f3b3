import Foundation
import Logging
import PsEPRCore
import ServerOperations
import ServiceLifecycle

/// StatusReporter: a heartbeat on the status channel every `periodSeconds` (and at once on a
/// `reportStatus` command), with the Server Guide's include flags deciding what it lists.
struct StatusReporter: Service {
    let context: ServerContext

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var tally = TrafficTally()
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await repeatWithPauses(
                        on: context.clock,
                        pause: { .seconds(context.live.current.services.statusPeriodSeconds) }
                    ) {
                        context.statusSignal.yield()
                    }
                }
                for await _ in context.statusRequests {
                    let configuration = context.live.current
                    let payload = heartbeat(configuration, tally: &tally)
                    context.publish(
                        channel: configuration.services.statusChannel,
                        namespace: ServiceSettings.heartbeatNamespace,
                        payload: payload,
                        idPrefix: "StatusReporter"
                    )
                    context.logger.log(
                        .statusReport,
                        .info,
                        "Heartbeat sent",
                        metadata: ["psepr.bytes": "\(payload.utf8.count)"]
                    )
                }
            }
        }
    }

    /// Per-service message counts across heartbeats: live connections' counters plus what
    /// closed connections had, forgotten `serviceExpireMinutes` after a service was last seen.
    struct TrafficTally {
        var retiredMessages: [String: Int] = [:]
        var lastSeen: [String: ContinuousClock.Instant] = [:]
        var lastTotal = 0
        var lastInstant = ContinuousClock.now
    }

    func heartbeat(_ configuration: EventServerConfiguration, tally: inout TrafficTally) -> String {
        let services = configuration.services
        let router = context.router
        let now = ContinuousClock.now
        let (leases, _, statistics) = router.snapshot
        let connections = router.connectionStatuses()
        let retired = router.sessions.takeRetired()
        let elapsed = max(
            0.001,
            Double((now - tally.lastInstant).components.seconds) + Double(
                (now - tally.lastInstant).components.attoseconds
            ) / 1e18
        )
        let rate = Double(statistics.eventsRouted - tally.lastTotal) / elapsed
        tally.lastTotal = statistics.eventsRouted
        tally.lastInstant = now

        var xml = XMLWriter()
        xml.start("payload", ["xmlns": ServiceSettings.heartbeatNamespace])
        xml.element("hostname", text: configuration.serverName)
        xml.element("account", text: configuration.serviceName)
        xml.element(
            "instance",
            text: configuration.instance.isEmpty ? configuration.serverName : configuration.instance
        )
        xml.element("hostID", text: context.mesh?.configuration.ownID ?? "")
        xml.element("serverVersion", text: pseprServerVersion)
        xml.start("totalMessages")
        xml.element("count", text: "\(statistics.eventsRouted)")
        xml.element("deliveries", text: "\(statistics.deliveries)")
        xml.element("dropped", text: "\(statistics.dropped)")
        xml.element("stalls", text: "\(statistics.stalls)")
        xml.element("stallTimeouts", text: "\(statistics.stallTimeouts)")
        xml.element("slowConsumerDisconnects", text: "\(statistics.slowConsumerDisconnects)")
        xml.element("perSecond", text: String(format: "%.1f", rate))
        xml.end("totalMessages")
        xml.element("totalConnections", text: "\(connections.count)")
        xml.element("leases", text: "\(leases)")
        xml.timestamp("localTime", Date())
        xml.timestamp("startTime", context.startDate)
        xml.start("connectionManagers")
        let ports = context.boundPorts
        xml.start("XMPP")
        xml.element("port", text: ports.client.map(String.init) ?? "")
        xml.element("connections", text: "\(connections.filter { $0.role == .client }.count)")
        xml.element("maximumConnections", text: "\(configuration.maximumConnections)")
        xml.end("XMPP")
        xml.start("OneEvent")
        xml.element("port", text: ports.oneEvent.map(String.init) ?? "")
        xml.end("OneEvent")
        if let mesh = context.mesh {
            xml.start("LeasePeer")
            xml.element("port", text: ports.leasePeer.map(String.init) ?? "")
            xml.element("peers", text: "\(mesh.configuration.peers.count)")
            xml.element("linked", text: mesh.linkedPeers.joined(separator: " "))
            xml.end("LeasePeer")
        }
        xml.end("connectionManagers")
        xml.start("connections")
        xml.element("current", text: "\(connections.count)")
        let listed = connections.filter {
            services.statusIncludesClientConnections && $0.role == .client
                || services.statusIncludesPeerConnections && $0.role == .peer
        }
        for connection in listed { xml.connection(connection) }
        xml.element("retired", text: "\(retired.count)")
        for connection in retired
        where services.statusIncludesClientConnections && connection.role == .client
            || services.statusIncludesPeerConnections && connection.role == .peer
        {
            xml.connection(connection)
        }
        xml.end("connections")
        if services.statusIncludesRouteTable {
            xml.start("routeTable")
            xml.element("leases", text: "\(leases)")
            for (channel, count) in router.leaseCountsByChannel() {
                xml.start("channel", ["name": channel.rawValue])
                xml.element("leases", text: "\(count)")
                xml.end("channel")
            }
            xml.end("routeTable")
        }
        if services.statusIncludesServiceTraffic {
            for connection in retired where connection.role == .client {
                guard let account = connection.account else { continue }
                tally.retiredMessages[account, default: 0] += connection.received
                tally.lastSeen[account] = now
            }
            var messages = tally.retiredMessages
            for connection in connections where connection.role == .client {
                guard let account = connection.account else { continue }
                messages[account, default: 0] += connection.received
                tally.lastSeen[account] = now
            }
            let expiry = Duration.seconds(services.serviceExpireMinutes * 60)
            for (account, seen) in tally.lastSeen where now - seen > expiry {
                tally.lastSeen[account] = nil
                tally.retiredMessages[account] = nil
                messages[account] = nil
            }
            xml.start("serviceTraffic")
            for (account, count) in messages.sorted(by: { $0.key < $1.key }) {
                xml.start("service")
                xml.element("name", text: account)
                xml.element("messages", text: "\(count)")
                xml.end("service")
            }
            xml.end("serviceTraffic")
        }
        xml.end("payload")
        return xml.string
    }
}
