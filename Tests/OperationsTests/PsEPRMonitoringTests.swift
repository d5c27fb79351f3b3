import Foundation
import Logging
import NIOCore
import PsEPRClient
import PsEPRCore
import PsEPRLoadGenerator
import ServerOperations
import Testing

@testable import PsEPRServer

/// A loopback server with its monitoring port on a free port.
func withMonitoredServer<Result>(_ body: (RunningEventServer) async throws -> Result) async throws -> Result {
    var configuration = EventServerConfiguration.loopback(serverName: "monitored.psepr")
    configuration.monitor = MonitorSettings(port: 0)
    return try await EventServer.withRunningServer(
        configuration: configuration,
        logger: Logger(label: "psepr.test"),
        body
    )
}

func identity(_ service: String) -> ServiceIdentity {
    ServiceIdentity(service: service, password: "pw", instance: "\(service)-1")
}

@Suite("PsEPR monitoring port", .serialized)
struct PsEPRMonitoringTests {
    @Test func metricsParseAndCountExactlyWhatWasPublished() async throws {
        try await withMonitoredServer { running in
            let monitor = running.monitorPort
            let before = try parsePrometheus(try await get(port: monitor, "/metrics").body)
            let server = ServerAddress(host: "127.0.0.1", port: running.clientPort)
            let published = 7
            try await EventClient.withClient(identity: identity("subscriber"), servers: [server]) { subscriber in
                let lease = try await subscriber.lease(ChannelName("/ops/metrics/"))
                #expect(await lease.settled().isActive)
                try await EventClient.withClient(identity: identity("publisher"), servers: [server]) { publisher in
                    for index in 0..<published {
                        try await publisher.send(
                            Event(
                                channel: ChannelName("/ops/metrics/"),
                                attribute: AttributePayload(field: "n", value: "\(index)")
                            )
                        )
                    }
                    let received = try await within(seconds: 20, "\(published) events") {
                        var count = 0
                        for await _ in lease.events {
                            count += 1
                            if count == published { break }
                        }
                        return count
                    }
                    #expect(received == published)
                    let response = try await get(port: monitor, "/metrics")
                    #expect(response.status == 200)
                    let after = try parsePrometheus(response.body)
                    func increase(_ key: String) -> Double { (after[key] ?? 0) - (before[key] ?? 0) }
                    #expect(increase("psepr_events_received_total{source=\"client\"}") == Double(published))
                    #expect(increase("psepr_event_deliveries_total") >= Double(published))
                    #expect(increase("psepr_logins_total{result=\"ok\"}") == 2)
                    #expect(after["psepr_connections{kind=\"client\"}"] == 2)
                    #expect(increase("psepr_received_bytes_total") > 0)
                    #expect(increase("psepr_sent_bytes_total") > 0)
                    #expect((after["psepr_leases"] ?? 0) >= 1)
                    #expect(after["psepr_build_info{version=\"\(BuildInfo.version)\"}"] == 1)
                    #expect(after["psepr_event_routing_duration_seconds_count"] != nil)

                    let varz = try await get(port: monitor, "/varz")
                    let status = try JSONSerialization.jsonObject(with: Data(varz.body.utf8)) as? [String: Any]
                    #expect(status?["connections"] as? Int == 2)
                    #expect(status?["server"] as? String == "monitored.psepr")
                    let connz =
                        try JSONSerialization.jsonObject(with: Data(try await get(port: monitor, "/connz").body.utf8))
                        as? [String: Any]
                    let connections = connz?["connections"] as? [[String: Any]] ?? []
                    #expect(Set(connections.compactMap { $0["account"] as? String }) == ["subscriber", "publisher"])
                    let leasez = try await get(port: monitor, "/leasez").body
                    #expect(leasez.contains("\"/ops/metrics/\""))
                }
            }
        }
    }

    @Test func aRefusedLoginIsCounted() async throws {
        var configuration = EventServerConfiguration.loopback()
        configuration.monitor = MonitorSettings(port: 0)
        var accounts = AccountTable()
        accounts.set(service: "known", password: "right")
        configuration.accounts = accounts
        try await EventServer.withRunningServer(configuration: configuration, logger: Logger(label: "psepr.test")) {
            running in
            let server = ServerAddress(host: "127.0.0.1", port: running.clientPort)
            // The client stops at the refusal.
            await #expect(throws: EventClient.ClientError.self) {
                try await EventClient.withClient(
                    identity: ServiceIdentity(service: "known", password: "wrong", instance: "x"),
                    servers: [server]
                ) { _ in }
            }
            let metrics = try parsePrometheus(try await get(port: running.monitorPort, "/metrics").body)
            #expect(metrics["psepr_logins_total{result=\"refused\"}"] == 1)
            #expect(metrics["psepr_logins_total{result=\"ok\"}"] == 0)
        }
    }

    @Test func healthIsUnavailableUntilEveryListenerIsBound() async throws {
        var configuration = EventServerConfiguration.loopback()
        configuration.monitor = MonitorSettings(port: 0)
        let context = ServerContext(
            router: EventRouter(),
            live: LiveConfiguration(configuration),
            logger: Logger(label: "psepr.test"),
            logControl: nil,
            mesh: nil,
            clock: ContinuousClock()
        )
        let endpoints = MonitorService.endpoints(context)
        #expect(await endpoints.health().healthy == false)
        context.bound(.client, try .init(ipAddress: "127.0.0.1", port: 1000))
        #expect(await endpoints.health().healthy == false)
        context.bound(.oneEvent, try .init(ipAddress: "127.0.0.1", port: 1001))
        #expect(await endpoints.health().healthy)
    }

    @Test func healthzAnswersOKOnARunningServer() async throws {
        try await withMonitoredServer { running in
            let health = try await get(port: running.monitorPort, "/healthz")
            #expect(health.status == 200)
            #expect(health.body.contains("\"status\":\"ok\""))
        }
    }
}
