public import Hummingbird
import NIOCore
public import Prometheus
import Synchronization

/// One check behind `/healthz`: a listener bound, a database loaded.
public struct HealthCheck: Sendable, Hashable {
    /// What is checked, e.g. `listener.client`.
    public var name: String
    /// Whether it passes.
    public var passing: Bool
    /// A word on the state, for operators.
    public var detail: String

    public init(name: String, passing: Bool, detail: String) {
        self.name = name
        self.passing = passing
        self.detail = detail
    }
}

/// `/metrics` (Prometheus text format) and `/healthz` (200 when every check passes, else 503),
/// the same on both servers.
public struct MonitoringEndpoints: Sendable {
    /// The server's metrics.
    public let registry: PrometheusCollectorRegistry
    /// Brings the metrics that are read from the server's state (gauges, counters kept elsewhere)
    /// up to date; runs before every scrape.
    public let refresh: @Sendable () async -> Void
    /// The health checks, evaluated on every request.
    public let checks: @Sendable () async -> [HealthCheck]

    public init(
        registry: PrometheusCollectorRegistry,
        refresh: @escaping @Sendable () async -> Void,
        checks: @escaping @Sendable () async -> [HealthCheck]
    ) {
        self.registry = registry
        self.refresh = refresh
        self.checks = checks
    }

    /// The Prometheus text exposition format's media type.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Adds `GET /metrics` and `GET /healthz` to `router`.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/metrics") { _, _ in await metricsResponse() }
        router.get("/healthz") { _, _ in await healthResponse() }
    }

    /// The current metrics.
    public func metricsResponse() async -> Response {
        await refresh()
        return Self.response(.ok, contentType: Self.metricsContentType, body: registry.emitToBuffer())
    }

    /// `{"status":"ok"|"unavailable","checks":[{"name":…,"passing":…,"detail":…}]}` with 200 or 503.
    public func healthResponse() async -> Response {
        let (healthy, json) = await health()
        return Self.response(
            healthy ? .ok : .serviceUnavailable,
            contentType: "application/json",
            body: Array(json.utf8)
        )
    }

    /// Whether every check passes, and the JSON `/healthz` answers.
    public func health() async -> (healthy: Bool, json: String) {
        let results = await checks()
        let healthy = !results.isEmpty && results.allSatisfy(\.passing)
        let list = results.map { check in
            "{\"name\":\(LogFormat.jsonString(check.name)),\"passing\":\(check.passing),\"detail\":\(LogFormat.jsonString(check.detail))}"
        }
        return (
            healthy, "{\"status\":\"\(healthy ? "ok" : "unavailable")\",\"checks\":[\(list.joined(separator: ","))]}\n"
        )
    }

    /// A whole response with a body and no caching (monitoring answers are always current).
    public static func response(_ status: HTTPResponse.Status, contentType: String, body: [UInt8]) -> Response {
        Response(
            status: status,
            headers: [.contentType: contentType, .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// A flag one task raises (a listener bound) and health checks read.
public final class ReadyFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    public init() {}

    /// Raises the flag.
    public func raise() { raised.store(true, ordering: .releasing) }

    /// Whether the flag is raised.
    public var isRaised: Bool { raised.load(ordering: .acquiring) }
}
