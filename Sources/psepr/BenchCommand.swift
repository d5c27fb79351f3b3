import ArgumentParser
import Foundation
import Logging
import NIOCore
import PsEPRLoadGenerator
import PsEPRServer

/// `psepr bench`: publishers and subscribers over the real client protocol against an embedded
/// (or given) server; events/s published and delivered, latency, drops, memory.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure event throughput and latency (build with -c release).",
        discussion: """
            Scenarios: 1-1 (one publisher, one subscriber), 1-10, 10-10 (all on one channel), and 1-1000 \
            (1000 subscribers each leasing one leaf of a three-level channel tree; the publisher goes round \
            the leaves). After 1-1 the same run is repeated at half its delivered rate for latency. \
            The per-event parsing and the route table alone are micro-benchmarks of the Benchmarks package \
            (swift package --package-path Benchmarks benchmark).
            """
    )

    enum Scenario: String, ExpressibleByArgument, CaseIterable, Sendable {
        case oneToOne = "1-1"
        case oneToTen = "1-10"
        case tenToTen = "10-10"
        case oneToThousand = "1-1000"

        var publishers: Int { self == .tenToTen ? 10 : 1 }
        var subscribers: Int {
            switch self {
            case .oneToOne: return 1
            case .oneToTen, .tenToTen: return 10
            case .oneToThousand: return 1000
            }
        }

        /// The channel subscriber `index` leases.
        func subscriberChannel(_ index: Int) -> String {
            self == .oneToThousand ? Self.leaf(index) : "/bench/all/"
        }

        /// The channels publishers send to, round robin.
        var publisherChannels: [String] {
            self == .oneToThousand ? (0..<1000).map(Self.leaf) : ["/bench/all/"]
        }

        /// Deliveries expected for `events` published.
        func expectedDeliveries(events: Int) -> Int { self == .oneToThousand ? events : events * subscribers }

        private static func leaf(_ index: Int) -> String {
            "/bench/tree/\(index / 100)/\(index / 10 % 10)/\(index % 10)/"
        }
    }

    @Option(
        name: .customLong("scenario"),
        help: "Scenarios to run (repeatable): 1-1, 1-10, 10-10, 1-1000. Default: all."
    )
    var scenarios: [Scenario] = Scenario.allCases

    @Option(help: "Events published per scenario.")
    var events: Int = 1_000_000

    @Option(help: "Bytes of each event's <payload> element.")
    var payloadBytes: Int = 200

    @Option(help: "Events per second over all publishers; 0 publishes as fast as the server takes them.")
    var rate: Double = 0

    @Option(help: "Events per write (and per send-time stamp).")
    var batch: Int = 64

    @Option(help: "Benchmark a running server at host:port instead of an embedded one (no drop or memory figures).")
    var server: String?

    @Option(help: "The embedded server's pending byte budget per connection.")
    var queue: Int = FlowControl.clientDefault.pendingBudgetBytes

    @Flag(help: "One JSON object per scenario instead of text.")
    var json = false

    func validate() throws {
        guard events > 0, payloadBytes >= 0, rate >= 0, batch > 0, queue > 0 else {
            throw ValidationError("counts must be positive")
        }
    }

    func run() async throws {
        if let server {
            let parts = server.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--server takes host:port") }
            try await runAll(host: String(parts[0]), port: port, router: nil)
            return
        }
        var logger = Logger(label: "psepr.bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        var configuration = EventServerConfiguration.loopback(serverName: "bench.localhost")
        configuration.maximumConnections = 5000
        configuration.flow.pendingBudgetBytes = queue
        let router = EventRouter()
        try await EventServer.withRunning(configuration: configuration, router: router, logger: logger) { port, _ in
            try await runAll(host: "127.0.0.1", port: port, router: router)
        }
    }

    private func runAll(host: String, port: Int, router: EventRouter?) async throws {
        if !json {
            print(
                "psepr bench: \(events) events of \(payloadBytes)-byte payload per scenario, \(host):\(port)\(server == nil ? " (embedded server, budget \(queue) bytes)" : "")"
            )
        }
        for scenario in scenarios {
            let result = try await measure(scenario, host: host, port: port, router: router, rate: rate)
            report(result)
            if scenario == .oneToOne, rate == 0, result.deliveredPerSecond > 0 {
                let half = try await measure(
                    scenario,
                    host: host,
                    port: port,
                    router: router,
                    rate: result.deliveredPerSecond / 2
                )
                report(half)
            }
        }
    }

    struct Result: Codable {
        var scenario: String
        var publishers: Int
        var subscribers: Int
        var events: Int
        var payloadBytes: Int
        var targetRate: Double?
        var publishedPerSecond: Double
        var deliveredPerSecond: Double
        var delivered: Int
        var expected: Int
        var dropped: Int?
        var latencyP50Milliseconds: Double?
        var latencyP99Milliseconds: Double?
        var residentMegabytes: Double?
    }

    private func measure(
        _ scenario: Scenario,
        host: String,
        port: Int,
        router: EventRouter?,
        rate: Double
    ) async throws -> Result {
        let tally = DeliveryTally()
        var subscribers: [LoadConnection] = []
        // Connect in groups so the listen backlog never overflows.
        for first in stride(from: 0, to: scenario.subscribers, by: 50) {
            let group = try await withThrowingTaskGroup(of: LoadConnection.self) { tasks in
                for index in first..<min(first + 50, scenario.subscribers) {
                    tasks.addTask {
                        let connection = try await LoadConnection.connect(
                            to: host,
                            port: port,
                            service: "bench_sub",
                            instance: "s\(index)"
                        )
                        try await connection.lease(scenario.subscriberChannel(index), identifier: "lease\(index)")
                        try await connection.startCounting(into: tally)
                        return connection
                    }
                }
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
            subscribers += group
        }
        var publishers: [LoadConnection] = []
        for index in 0..<scenario.publishers {
            publishers.append(
                try await LoadConnection.connect(to: host, port: port, service: "bench_pub", instance: "p\(index)")
            )
        }
        defer {
            for connection in subscribers + publishers { connection.channel.close(promise: nil) }
        }
        let droppedBefore = router?.snapshot.statistics.dropped ?? 0
        let expected = scenario.expectedDeliveries(events: events)
        let started = monotonicNanoseconds()
        let share = events / scenario.publishers
        let templates = StanzaTemplates(channels: scenario.publisherChannels, instance: "p", payloadBytes: payloadBytes)
        let perPublisherRate = rate / Double(scenario.publishers)
        let batchSize = batch
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, publisher) in publishers.enumerated() {
                let count = index == 0 ? share + events % scenario.publishers : share
                tasks.addTask {
                    try await publisher.publish(
                        templates,
                        count: count,
                        batch: batchSize,
                        rate: perPublisherRate,
                        started: started
                    )
                }
            }
            try await tasks.waitForAll()
        }
        let published = monotonicNanoseconds()
        try await tally.waitForDeliveries(expected)
        let deliveredElapsed = Double(max(tally.lastDelivery, published) - started) / 1e9
        return Result(
            scenario: scenario.rawValue,
            publishers: scenario.publishers,
            subscribers: scenario.subscribers,
            events: events,
            payloadBytes: payloadBytes,
            targetRate: rate > 0 ? rate : nil,
            publishedPerSecond: Double(events) / (Double(published - started) / 1e9),
            deliveredPerSecond: Double(tally.delivered) / deliveredElapsed,
            delivered: tally.delivered,
            expected: expected,
            dropped: router.map { $0.snapshot.statistics.dropped - droppedBefore },
            latencyP50Milliseconds: tally.latencyMilliseconds(atPercentile: 50),
            latencyP99Milliseconds: tally.latencyMilliseconds(atPercentile: 99),
            residentMegabytes: router == nil ? nil : Self.residentMegabytes()
        )
    }

    private func report(_ result: Result) {
        if json {
            printJSONLine(result)
            return
        }
        let name = result.targetRate.map { String(format: "%@ at %.0f/s", result.scenario, $0) } ?? result.scenario
        var line = String(
            format: "%-16@ published %9.0f/s  delivered %9.0f/s  (%d of %d)",
            name as NSString,
            result.publishedPerSecond,
            result.deliveredPerSecond,
            result.delivered,
            result.expected
        )
        if let p50 = result.latencyP50Milliseconds, let p99 = result.latencyP99Milliseconds {
            line += String(format: "  latency p50 %.2f ms p99 %.2f ms", p50, p99)
        }
        if let dropped = result.dropped { line += "  dropped \(dropped)" }
        if let memory = result.residentMegabytes { line += String(format: "  RSS %.0f MB", memory) }
        print(line)
    }

    /// This process's resident memory (server and load clients together), from /proc.
    static func residentMegabytes() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kilobytes / 1024
    }
}

/// Prints one benchmark result as a single line of JSON with sorted keys.
func printJSONLine(_ result: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    if let data = try? encoder.encode(result) { print(String(decoding: data, as: UTF8.self)) }
}
