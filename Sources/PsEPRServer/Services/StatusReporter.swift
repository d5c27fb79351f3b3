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
        let retired = router.takeRetiredConnections()
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
        xml.open("payload", attributes: [("xmlns", ServiceSettings.heartbeatNamespace)])
        xml.element("hostname", configuration.serverName)
        xml.element("account", configuration.serviceName)
        xml.element("instance", configuration.instance.isEmpty ? configuration.serverName : configuration.instance)
        xml.element("hostID", context.mesh?.configuration.ownID ?? "")
        xml.element("serverVersion", pseprServerVersion)
        xml.open("totalMessages")
        xml.element("count", "\(statistics.eventsRouted)")
        xml.element("deliveries", "\(statistics.deliveries)")
        xml.element("dropped", "\(statistics.dropped)")
        xml.element("stalls", "\(statistics.stalls)")
        xml.element("stallTimeouts", "\(statistics.stallTimeouts)")
        xml.element("slowConsumerDisconnects", "\(statistics.slowConsumerDisconnects)")
        xml.element("perSecond", String(format: "%.1f", rate))
        xml.close("totalMessages")
        xml.element("totalConnections", "\(connections.count)")
        xml.element("leases", "\(leases)")
        xml.timestamp("localTime", Date())
        xml.timestamp("startTime", context.startDate)
        xml.open("connectionManagers")
        let ports = context.boundPorts
        xml.open("XMPP")
        xml.element("port", ports.client.map(String.init) ?? "")
        xml.element("connections", "\(connections.filter { $0.role == .client }.count)")
        xml.element("maximumConnections", "\(configuration.maximumConnections)")
        xml.close("XMPP")
        xml.open("OneEvent")
        xml.element("port", ports.oneEvent.map(String.init) ?? "")
        xml.close("OneEvent")
        if let mesh = context.mesh {
            xml.open("LeasePeer")
            xml.element("port", ports.leasePeer.map(String.init) ?? "")
            xml.element("peers", "\(mesh.configuration.peers.count)")
            xml.element("linked", mesh.linkedPeers.joined(separator: " "))
            xml.close("LeasePeer")
        }
        xml.close("connectionManagers")
        xml.open("connections")
        xml.element("current", "\(connections.count)")
        let listed = connections.filter {
            services.statusIncludesClientConnections && $0.role == .client
                || services.statusIncludesPeerConnections && $0.role == .peer
        }
        for connection in listed { xml.connection(connection) }
        xml.element("retired", "\(retired.count)")
        for connection in retired
        where services.statusIncludesClientConnections && connection.role == .client
            || services.statusIncludesPeerConnections && connection.role == .peer
        {
            xml.connection(connection)
        }
        xml.close("connections")
        if services.statusIncludesRouteTable {
            xml.open("routeTable")
            xml.element("leases", "\(leases)")
            for (channel, count) in router.leaseCountsByChannel() {
                xml.open("channel", attributes: [("name", channel.rawValue)])
                xml.element("leases", "\(count)")
                xml.close("channel")
            }
            xml.close("routeTable")
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
            xml.open("serviceTraffic")
            for (account, count) in messages.sorted(by: { $0.key < $1.key }) {
                xml.open("service")
                xml.element("name", account)
                xml.element("messages", "\(count)")
                xml.close("service")
            }
            xml.close("serviceTraffic")
        }
        xml.close("payload")
        return xml.text
    }
}
