import ArgumentParser
import AsyncHTTPClient
import DP5Core
import DP5Server
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// `dp5-bench http`: a lookup server in this process, driven over HTTP by concurrent clients.
///
/// Writes a database of the requested size into a temporary `datadir`, starts a lookup server on
/// it (plain HTTP on 127.0.0.1, `pirThreads` PIR threads), and sends PIR requests from
/// concurrent clients while a prober asks `GET /` every 10 ms. Each row reports lookups
/// (queries answered) per second and request latency, and the same work as GB/s × queries
/// beside the memory read rate of one core and of all cores and the kernel alone, all measured
/// in the same run.
struct HTTPLookupBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract:
            "Drive an in-process lookup server over HTTP; lookups/s and latency beside the kernel and the memory read rate."
    )

    @OptionGroup var served: ServedDatabaseOptions

    @Option(parsing: .upToNextOption, help: "Concurrent clients to run with.")
    var clients: [Int] = [1, 2, 8]

    @Option(parsing: .upToNextOption, help: "Queries per request (at most 100).")
    var queries: [Int] = [1, 100]

    @Option(help: "Requests each client sends per row.")
    var requests = 10

    @Option(
        help:
            "Requests per query count sent by one client, each between all-core reference reads, for the paired ratios (0: none)."
    )
    var pairs = 20

    @Option(help: "The server's PIR threads (default: all cores).")
    var pirThreads = ProcessInfo.processInfo.activeProcessorCount

    @Option(
        help:
            "The HTTP client the clients and the prober use: nio (requests sent from the event loop) or async-http-client."
    )
    var httpClient = BenchmarkHTTPClient.nio

    func validate() throws {
        guard queries.allSatisfy({ (1...100).contains($0) }) else {
            throw ValidationError("--queries: 1 to 100 per request")
        }
        guard clients.allSatisfy({ $0 >= 1 }), requests >= 1, pirThreads >= 1, pairs >= 0 else {
            throw ValidationError(
                "--clients, --requests and --pir-threads must be at least 1, --pairs at least 0"
            )
        }
    }

    func run() async throws {
        print(
            "build: \(PIRBenchmark.isOptimised ? "optimised" : "UNOPTIMISED (use -c release)"); PIR threads: \(pirThreads), kernel \(PIREngine.Kernel.best)"
        )
        let database = try served.makeDatabase()
        let gigabytes = Double(database.count) / 1e9
        print(PIRBenchmark.hugePageLine)

        let pool = PIRThreadPool(threads: pirThreads)
        let before = await memoryReadRates(database, pool: pool)
        let engine = PIREngine(threads: pirThreads, workers: pool)
        // On a shared machine the memory read rate moves with other work: each figure is compared
        // with the all-core reference measured just before and just after it, the faster of the two.
        var kernelRates: [(queries: Int, seconds: Double, rate: Double, reference: Double)] = []
        for count in queries {
            let batch = PIRBenchmark.randomBatch(queries: count, blocks: database.numberOfBlocks)
            let ahead = await memoryReadRates(database, pool: pool, oneCore: false)
            let seconds = await fastestAsync(3) { _ = await engine.answer([batch], database: database) }
            let behind = await memoryReadRates(database, pool: pool, oneCore: false)
            kernelRates.append(
                (count, seconds, gigabytes * Double(count) / seconds, max(ahead.allCores, behind.allCores))
            )
        }

        let epoch = Epoch(1000)
        var rows:
            [(clients: Int, queries: Int, row: Row, queriesPerPass: Double, meanPass: Double, reference: Double)] = []
        var pairedRows: [(queries: Int, ratios: [Double], references: [Double], aggregate: Double)] = []
        try await InProcessLookupServers.run(
            database: database,
            epoch: epoch,
            dataEncSize: served.dataEncSize,
            pirThreads: [pirThreads]
        ) { servers in
            let server = servers[0]
            // One connection per client, and the prober on a connection of its own: its `GET /`
            // never waits for a connection that a lookup holds.
            let driver: any BenchmarkHTTPDriver =
                switch httpClient {
                case .nio: try await NIODriver(port: server.port, clients: clients.max() ?? 1)
                case .asyncHTTPClient:
                    AsyncHTTPClientDriver(base: "http://127.0.0.1:\(server.port)", clients: clients.max() ?? 1)
                }
            do {
                // The first pass maps the data file in; it is not what a row measures.
                _ = try await Self.drive(driver, epoch: epoch, database: database, queries: 1, clients: 1, requests: 1)
                for count in queries {
                    for clientCount in clients {
                        let before = server.metrics.passTotals
                        let ahead = await memoryReadRates(database, pool: pool, oneCore: false)
                        let row = try await Self.drive(
                            driver,
                            epoch: epoch,
                            database: database,
                            queries: count,
                            clients: clientCount,
                            requests: requests
                        )
                        // The server's own passes in this row: how many queries each coalesced,
                        // and how long one took (the rest of a request's time is spent outside
                        // the pass).
                        let passes = server.metrics.passTotals.passes(since: before)
                        let behind = await memoryReadRates(database, pool: pool, oneCore: false)
                        rows.append(
                            (
                                clientCount, count, row, passes.queriesPerPass, passes.meanPassMilliseconds,
                                max(ahead.allCores, behind.allCores)
                            )
                        )
                    }
                }
                if clients.contains(1) && pairs > 0 {
                    for count in queries {
                        pairedRows.append(
                            try await drivePaired(driver, epoch: epoch, database: database, queries: count, pool: pool)
                        )
                    }
                }
            } catch {
                await driver.shutdown()
                throw error
            }
            await driver.shutdown()
        }

        let after = await memoryReadRates(database, pool: pool)
        await pool.shutdown()
        print(
            String(
                format:
                    "memory read: one core %.1f GB/s, %d cores %.1f GB/s (references at the start; at the end %.1f and %.1f)",
                before.oneCore,
                pirThreads,
                before.allCores,
                after.oneCore,
                after.allCores
            )
        )
        for kernel in kernelRates {
            print(
                String(
                    format:
                        "kernel alone, %3d queries: %8.4f s a pass, %7.1f GB/s×q = %.2f× all-core memory (%.1f GB/s around it)",
                    kernel.queries,
                    kernel.seconds,
                    kernel.rate,
                    kernel.rate / kernel.reference,
                    kernel.reference
                )
            )
        }
        print(
            "\nclients queries   lookups/s   GB/s×q  × all-core memory (GB/s)  request p50/p95/p99 ms   GET / p50/p99 ms   q/pass  pass ms  outside ms"
        )
        for entry in rows {
            let row = entry.row
            let rate = gigabytes * row.lookupsPerSecond
            print(
                String(
                    format:
                        "%7d %7d %11.1f %8.1f %10.2f× (%5.1f)     %7.1f %6.1f %6.1f      %6.1f %6.1f   %6.1f %8.2f %11.2f",
                    entry.clients,
                    entry.queries,
                    row.lookupsPerSecond,
                    rate,
                    rate / entry.reference,
                    entry.reference,
                    row.requests.percentile(50),
                    row.requests.percentile(95),
                    row.requests.percentile(99),
                    row.probes.percentile(50),
                    row.probes.percentile(99),
                    entry.queriesPerPass,
                    entry.meanPass,
                    row.requests.mean - entry.meanPass
                )
            )
        }
        for paired in pairedRows {
            let ratios = paired.ratios.sorted()
            print(
                String(
                    format:
                        "paired, 1 client × %d queries: %d requests, each against the all-core reads beside it: median %.2f×, range %.2f–%.2f×, all requests against all reads %.2f× (reference %.1f–%.1f GB/s)",
                    paired.queries,
                    ratios.count,
                    Self.median(ratios),
                    ratios.first ?? .nan,
                    ratios.last ?? .nan,
                    paired.aggregate,
                    paired.references.min() ?? .nan,
                    paired.references.max() ?? .nan
                )
            )
        }
    }

    /// The middle of `sorted` (the mean of the two middle values for an even count).
    static func median(_ sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// One client's `pairs` requests of `queries` queries, one at a time, alternating with
    /// all-core reference reads: one read before the first request and one after each. A
    /// request is compared with the two reads beside it (the mean of their rates), milliseconds
    /// away rather than the seconds between a row's references, so a change in the machine's
    /// memory rate during a run moves a request and its reference together; each side is a
    /// single pass over the database, measured the same way. Returns the ratio of each request's
    /// lookups (queries over its latency, as a one-client row's lookups/s) to its reference, the
    /// references, and the ratio of all the requests' lookups to all the reads' rate (total
    /// work over total time on each side).
    private func drivePaired(
        _ driver: any BenchmarkHTTPDriver,
        epoch: Epoch,
        database: PIRDatabase,
        queries: Int,
        pool: PIRThreadPool
    ) async throws -> (queries: Int, ratios: [Double], references: [Double], aggregate: Double) {
        let lookup = Self.lookupRequests(epoch: epoch, database: database, queries: queries)
        let gigabytes = Double(database.count) / 1e9
        let clock = ContinuousClock()
        func read() async -> Double {
            PIRBenchmark.seconds(await clock.measure { await allCoreRead(database, pool: pool) })
        }
        var ratios: [Double] = []
        var references: [Double] = []
        var ahead = await read()
        var readSeconds = ahead
        var requestSeconds = 0.0
        for _ in 0..<pairs {
            let latency = try await driver.send(lookup, requests: 1, client: 0).mean / 1000
            let behind = await read()
            let reference = (gigabytes / ahead + gigabytes / behind) / 2
            references.append(reference)
            ratios.append(gigabytes * Double(queries) / latency / reference)
            requestSeconds += latency
            readSeconds += behind
            ahead = behind
        }
        // Passes over the database per second on each side: a request's `queries` count as that many.
        let aggregate = (Double(queries * pairs) / requestSeconds) / (Double(pairs + 1) / readSeconds)
        return (queries, ratios, references, aggregate)
    }

    /// One row's figures.
    typealias Row = (lookupsPerSecond: Double, requests: Latencies, probes: Latencies)

    /// The memory read rate of one core, and of the PIR threads reading the database as a pass
    /// does (taking the same pieces from a shared counter); fastest of three each.
    private func memoryReadRates(
        _ database: PIRDatabase,
        pool: PIRThreadPool,
        oneCore measureOneCore: Bool = true
    ) async -> (oneCore: Double, allCores: Double) {
        let gigabytes = Double(database.count) / 1e9
        let oneCore = measureOneCore ? gigabytes / fastest(3) { PIRBenchmark.memoryPass(database) } : .nan
        let allCores = gigabytes / (await fastestAsync(3) { await allCoreRead(database, pool: pool) })
        return (oneCore, allCores)
    }

    /// One read of the database by the PIR threads, taking the same pieces in turn as a pass does.
    private func allCoreRead(_ database: PIRDatabase, pool: PIRThreadPool) async {
        let pieces = PIREngine.pieces(numberOfBlocks: database.numberOfBlocks, blockSize: database.blockSize)
        let cursor = PieceCounter()
        // Handed to the PIR threads as a pass's parts are (`PIRThreadPool.run(parts:)`).
        _ = await pool.run(parts: pirThreads) {
            var folded: [UInt8] = []
            while case let piece = cursor.take(), piece < pieces.count {
                folded += Self.memoryPass(database, blocks: pieces[piece])
            }
            return folded
        } fold: { sum, part in
            sum += part
        }
    }

    /// One row: `clients` clients each sending `requests` requests of `queries` queries, and
    /// the prober's `GET /` meanwhile.
    static func drive(
        _ driver: any BenchmarkHTTPDriver,
        epoch: Epoch,
        database: PIRDatabase,
        queries: Int,
        clients: Int,
        requests: Int
    ) async throws -> Row {
        let lookup = Self.lookupRequests(epoch: epoch, database: database, queries: queries)
        let finished = ManagedFlag()
        let start = ContinuousClock.now
        let probing = Task { await driver.probe(until: finished) }
        let latencies = try await withThrowingTaskGroup(of: Latencies.self) { group in
            for client in 0..<clients {
                group.addTask { try await driver.send(lookup, requests: requests, client: client) }
            }
            var all = Latencies()
            for try await part in group { all.merge(part) }
            return all
        }
        let elapsed = PIRBenchmark.seconds(ContinuousClock.now - start)
        finished.raise()
        let probes = await probing.value
        return (Double(clients * requests * queries) / elapsed, latencies, probes)
    }

    /// A lookup request of `queries` random queries.
    static func lookupRequests(epoch: Epoch, database: PIRDatabase, queries: Int) -> BenchmarkRequests {
        let body = ByteBuffer(
            bytes: LookupRequest.pir(
                epoch,
                queries: PIRBenchmark.randomBatch(queries: queries, blocks: database.numberOfBlocks).percyWire[...]
            ).rawRepresentation
        )
        return BenchmarkRequests(path: "/lookup/\(epoch)/", body: body, expectedBytes: queries * database.blockSize)
    }

    /// `meta<E>.dat` and `data<E>.dat` for `database`, as a registration server publishes them.
    static func writeDatabase(_ database: PIRDatabase, epoch: Epoch, dataEncSize: Int, into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let recordSize = 10 + dataEncSize
        let metadata = Metadata(
            combined: false,
            epoch: epoch,
            dataEncSize: UInt32(dataEncSize),
            epochLength: 1800,
            numberOfBuckets: UInt32(database.numberOfBlocks),
            bucketSize: UInt32(database.blockSize / recordSize),
            prfKey: [UInt8](repeating: 7, count: DP5Parameters.prfKeyBytes)
        )
        try database.bytes.write(to: URL(fileURLWithPath: directory + "/data\(epoch).dat"))
        try Data(metadata.rawRepresentation).write(to: URL(fileURLWithPath: directory + "/meta\(epoch).dat"))
    }

    /// Reads `blocks` of the database once, on the calling thread.
    static func memoryPass(_ database: PIRDatabase, blocks: Range<Int>) -> [UInt8] {
        let folded = database.bytes.withUnsafeBytes { raw in
            // Whole words from the range's first to its last byte (a word across a boundary
            // may be read twice: a read benchmark does not mind).
            let words = raw.bindMemory(to: UInt64.self)
            return words[(blocks.lowerBound * database.blockSize / 8)..<(blocks.upperBound * database.blockSize / 8)]
                .reduce(0, ^)
        }
        return folded == 0x0123_4567_89AB_CDEF ? [1] : []
    }

    private func fastest(_ repetitions: Int, _ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        return (0..<repetitions).map { _ in PIRBenchmark.seconds(clock.measure(body)) }.min()!
    }

    private func fastestAsync(_ repetitions: Int, _ body: () async -> Void) async -> Double {
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<repetitions { best = min(best, PIRBenchmark.seconds(await clock.measure { await body() })) }
        return best
    }
}

/// Latencies in milliseconds, for percentiles.
struct Latencies: Sendable {
    private var milliseconds: [Double] = []

    mutating func add(_ duration: Duration) { milliseconds.append(PIRBenchmark.seconds(duration) * 1000) }
    mutating func merge(_ other: Latencies) { milliseconds += other.milliseconds }
    var mean: Double { milliseconds.isEmpty ? .nan : milliseconds.reduce(0, +) / Double(milliseconds.count) }

    func percentile(_ percent: Double) -> Double {
        guard !milliseconds.isEmpty else { return .nan }
        let sorted = milliseconds.sorted()
        let rank = Int((Double(sorted.count) * percent / 100).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }
}

/// The next piece of a reference read to take, shared by the reading threads.
final class PieceCounter: Sendable {
    private let next = Atomic<Int>(0)
    func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// A flag one task raises and another reads.
final class ManagedFlag: Sendable {
    private let raised = Mutex(false)
    var isRaised: Bool { raised.withLock { $0 } }
    func raise() { raised.withLock { $0 = true } }
}
