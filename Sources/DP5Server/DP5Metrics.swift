import CoreMetrics
import DP5Core
public import Prometheus
import ServerOperations
import Synchronization

/// A DP5 server's Prometheus metrics, through swift-metrics onto a registry of the server's own,
/// served at `/metrics` on its HTTP port.
public final class DP5Metrics: Sendable {
    /// The registry `/metrics` emits.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// Counters made on first use, by name and label value.
    private let labelled = Mutex<[String: CoreMetrics.Counter]>([:])
    let epochBuilds: CoreMetrics.Counter
    let epochBuildDuration: CoreMetrics.Timer
    let epochRecords: CoreMetrics.Gauge
    let currentEpoch: CoreMetrics.Gauge
    let databaseBytes: CoreMetrics.Gauge
    let databaseLoaded: CoreMetrics.Gauge
    let pirPasses: CoreMetrics.Counter
    let pirPassDuration: CoreMetrics.Timer
    let pirQueriesPerPass: CoreMetrics.Recorder

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let seconds: [Duration] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
            .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        factory.durationHistogramBuckets["dp5_epoch_build_duration_seconds"] = seconds
        factory.durationHistogramBuckets["dp5_pir_pass_duration_seconds"] = seconds
        factory.valueHistogramBuckets["dp5_pir_queries_per_pass"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        self.factory = factory
        epochBuilds = CoreMetrics.Counter(label: "dp5_epoch_builds_total", factory: factory)
        epochBuildDuration = CoreMetrics.Timer(label: "dp5_epoch_build_duration_seconds", factory: factory)
        epochRecords = CoreMetrics.Gauge(label: "dp5_epoch_records", factory: factory)
        currentEpoch = CoreMetrics.Gauge(label: "dp5_current_epoch", factory: factory)
        databaseBytes = CoreMetrics.Gauge(label: "dp5_database_bytes", factory: factory)
        databaseLoaded = CoreMetrics.Gauge(label: "dp5_database_loaded", factory: factory)
        pirPasses = CoreMetrics.Counter(label: "dp5_pir_passes_total", factory: factory)
        pirPassDuration = CoreMetrics.Timer(label: "dp5_pir_pass_duration_seconds", factory: factory)
        pirQueriesPerPass = CoreMetrics.Recorder(
            label: "dp5_pir_queries_per_pass",
            dimensions: [],
            aggregate: true,
            factory: factory
        )
        CoreMetrics.Gauge(label: "dp5_build_info", dimensions: [("version", BuildInfo.version)], factory: factory)
            .record(1)
    }

    /// Counts one registration by its outcome: the reply's status (`accepted`, `wrong_epoch`,
    /// `message_too_short`, `malformed_records`), `refused` (HTTP 403) or `unavailable` (not stored).
    func countRegistration(_ code: String) { count("dp5_registrations_total", label: "code", code) }

    /// Counts one lookup request by kind: `metadata`, `pir`, `download`, `invalid` or `refused`.
    func countLookup(_ kind: String) { count("dp5_lookups_total", label: "kind", kind) }

    /// Counts one epoch database fetched from the registration server: `ok` or `failed`.
    func countFetch(_ result: String) { count("dp5_database_fetches_total", label: "result", result) }

    /// Counts one epoch file served at `/download`: `data` or `metadata`.
    func countDownload(_ file: String) { count("dp5_downloads_total", label: "file", file) }

    /// Records one PIR pass over a database.
    /// PIR passes run so far, the queries they answered and their summed duration.
    public struct PassTotals: Sendable {
        public var passes = 0
        public var queries = 0
        public var duration = Duration.zero
    }

    /// The totals so far (`dp5-bench http` reports each row's passes from them).
    public var passTotals: PassTotals { totals.withLock { $0 } }
    private let totals = Mutex(PassTotals())

    func recordPass(queries: Int, duration: Duration) {
        totals.withLock {
            $0.passes += 1
            $0.queries += queries
            $0.duration += duration
        }
        pirPasses.increment()
        pirPassDuration.recordNanoseconds(Self.nanoseconds(duration))
        pirQueriesPerPass.record(queries)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    private func count(_ name: String, label: String, _ value: String) {
        let counter = labelled.withLock { counters in
            let key = name + "\u{0}" + value
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(label: name, dimensions: [(label, value)], factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }
}

extension RegistrationReply.Status {
    /// The status as a metric label.
    var metricLabel: String {
        switch self {
        case .accepted: "accepted"
        case .messageTooShort: "message_too_short"
        case .wrongEpoch: "wrong_epoch"
        case .malformedRecords: "malformed_records"
        case .refusedSignature: "refused_signature"
        default: "status_\(rawValue)"
        }
    }
}
