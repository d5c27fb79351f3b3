import CoreMetrics
public import Prometheus
import ServerOperations
import Synchronization

/// The PsEPR server's Prometheus metrics, through swift-metrics onto a registry of the server's
/// own (so several servers in one process keep theirs apart).
///
/// The router and the connections count under the locks and atomics they already take;
/// ``refresh(router:linkedPeers:configuredPeers:uptimeSeconds:)`` carries those counts into the
/// metrics before each scrape. Only the routing time is recorded as it happens, for one event in
/// ``routingSamplePeriod``.
public final class ServerMetrics: Sendable {
    /// The registry `/metrics` emits.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let counters: [String: CoreMetrics.Counter]
    private let gauges: [String: CoreMetrics.Gauge]
    private let routing: CoreMetrics.Timer
    /// The counts already carried into each counter.
    private let carried = Mutex<[String: Int]>([:])

    /// One event in this many is timed through the router.
    static let routingSamplePeriod: UInt64 = 64

    /// Every counter's name and labels, keyed for ``refresh(router:linkedPeers:configuredPeers:uptimeSeconds:)``.
    private static let counterSpecifications: [(key: String, name: String, labels: [(String, String)])] =
        EventSource.allCases.map { ("events.\($0.rawValue)", "psepr_events_received_total", [("source", $0.rawValue)]) }
        + ConnectionKind.allCases.map {
            ("connections.\($0.rawValue)", "psepr_connections_accepted_total", [("kind", $0.rawValue)])
        }
        + [
            ("deliveries", "psepr_event_deliveries_total", []),
            ("dropped", "psepr_event_deliveries_dropped_total", []),
            ("stalls", "psepr_outbound_stalls_total", []),
            ("stallTimeouts", "psepr_outbound_stall_timeouts_total", []),
            ("slowConsumers", "psepr_slow_consumer_disconnects_total", []),
            ("bytesReceived", "psepr_received_bytes_total", []),
            ("bytesSent", "psepr_sent_bytes_total", []),
            ("loginsAccepted", "psepr_logins_total", [("result", "ok")]),
            ("loginsRefused", "psepr_logins_total", [("result", "refused")]),
            ("connectionsRefused", "psepr_connections_refused_total", [("reason", "maximum_connections")]),
        ]

    private static let gaugeSpecifications: [(key: String, name: String, labels: [(String, String)])] = [
        ("connections.client", "psepr_connections", [("kind", "client")]),
        ("connections.peer", "psepr_connections", [("kind", "peer")]),
        ("leases", "psepr_leases", []),
        ("channels", "psepr_leased_channels", []),
        ("routeTable", "psepr_route_table_entries", []),
        ("peersLinked", "psepr_peer_links_up", []),
        ("peersConfigured", "psepr_peers_configured", []),
        ("uptime", "psepr_uptime_seconds", []),
        ("build", "psepr_build_info", [("version", BuildInfo.version)]),
    ]

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["psepr_event_routing_duration_seconds"] = [
            .microseconds(1), .microseconds(2), .microseconds(5), .microseconds(10), .microseconds(20),
            .microseconds(50),
            .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(10), .milliseconds(100),
        ]
        self.factory = factory
        var counters: [String: CoreMetrics.Counter] = [:]
        for specification in Self.counterSpecifications {
            counters[specification.key] = CoreMetrics.Counter(
                label: specification.name,
                dimensions: specification.labels,
                factory: factory
            )
        }
        var gauges: [String: CoreMetrics.Gauge] = [:]
        for specification in Self.gaugeSpecifications {
            gauges[specification.key] = CoreMetrics.Gauge(
                label: specification.name,
                dimensions: specification.labels,
                factory: factory
            )
        }
        self.counters = counters
        self.gauges = gauges
        routing = CoreMetrics.Timer(label: "psepr_event_routing_duration_seconds", dimensions: [], factory: factory)
        gauges["build"]?.record(1)
    }

    /// Records one sampled event's time from the router's match to its last subscriber's queue.
    func recordRouting(_ duration: Duration) {
        routing.recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        )
    }

    /// Carries the router's counts and the server's state into the metrics.
    func refresh(router: EventRouter, linkedPeers: Int, configuredPeers: Int, uptimeSeconds: Double) {
        let (leases, _, statistics) = router.snapshot
        let bytes = router.trafficBytes
        var totals: [String: Int] = [
            "deliveries": statistics.deliveries, "dropped": statistics.dropped, "stalls": statistics.stalls,
            "stallTimeouts": statistics.stallTimeouts,
            "slowConsumers": statistics.slowConsumerDisconnects, "bytesReceived": bytes.received,
            "bytesSent": bytes.sent,
            "loginsAccepted": statistics.loginsAccepted, "loginsRefused": statistics.loginsRefused,
            "connectionsRefused": statistics.connectionsRefused,
        ]
        for source in EventSource.allCases { totals["events.\(source.rawValue)"] = statistics.eventsBySource[source] }
        for kind in ConnectionKind.allCases {
            totals["connections.\(kind.rawValue)"] = statistics.connectionsAccepted[kind]
        }
        carried.withLock { carried in
            for (key, total) in totals {
                let increase = total - carried[key, default: 0]
                guard increase > 0 else { continue }
                counters[key]?.increment(by: Int64(increase))
                carried[key] = total
            }
        }
        let connections = router.connectionStatuses()
        gauges["connections.client"]?.record(connections.filter { $0.role == .client }.count)
        gauges["connections.peer"]?.record(connections.filter { $0.role == .peer }.count)
        gauges["leases"]?.record(leases)
        gauges["channels"]?.record(router.leaseCountsByChannel().count)
        gauges["routeTable"]?.record(router.routeTableSize)
        gauges["peersLinked"]?.record(linkedPeers)
        gauges["peersConfigured"]?.record(configuredPeers)
        gauges["uptime"]?.record(uptimeSeconds)
    }
}
