import ArgumentParser
import DP5Core
import DP5Server
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Lookup servers in the benchmark's own process, over one database.
///
/// Each server has a `datadir` of its own (a data directory is locked by the server that uses
/// it) holding hard links to one written copy of the database's files, and listens with plain
/// HTTP on 127.0.0.1 on a port of its own.
enum InProcessLookupServers {
    /// One running server.
    struct Server: Sendable {
        let port: Int
        let pirThreads: Int
        /// Its pass totals, for the figures a row takes from the server.
        let metrics: DP5Metrics
    }

    /// Starts one lookup server per entry of `pirThreads` (its PIR thread count) on `database`
    /// as epoch `epoch`, runs `body` with them, and stops them, also when `body` throws.
    static func run<Result>(
        database: PIRDatabase,
        epoch: Epoch,
        dataEncSize: Int,
        pirThreads: [Int],
        _ body: ([Server]) async throws -> Result
    ) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dp5-bench-http-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let written = directory + "/datadir-0"
        try HTTPLookupBenchmark.writeDatabase(database, epoch: epoch, dataEncSize: dataEncSize, into: written)

        var logger = Logger(label: "dp5-bench")
        logger.logLevel = .error
        var services: [DP5Service] = []
        var portStreams: [AsyncStream<Int>] = []
        var metricsOfServers: [DP5Metrics] = []
        for (index, threads) in pirThreads.enumerated() {
            let dataDirectory = directory + "/datadir-\(index)"
            if index > 0 {
                try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
                for name in ["data\(epoch).dat", "meta\(epoch).dat"] {
                    try FileManager.default.linkItem(atPath: written + "/" + name, toPath: dataDirectory + "/" + name)
                }
            }
            let configuration = try ServerConfiguration(
                host: "127.0.0.1",
                port: 0,
                isRegistrationServer: false,
                isLookupServer: true,
                dataDirectory: dataDirectory,
                // Never reached: the database is already in datadir.
                registrationServer: "http://127.0.0.1:9",
                protocolConfiguration: try DP5Configuration(dataEncSize: dataEncSize),
                pirThreads: threads
            )
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let metrics = DP5Metrics()
            services.append(
                DP5Service(configuration: configuration, logger: logger, metrics: metrics) { address in
                    portContinuation.yield(address.port ?? 0)
                }
            )
            portStreams.append(ports)
            metricsOfServers.append(metrics)
        }
        let group = ServiceGroup(services: services, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result
            do {
                var servers: [Server] = []
                for (index, ports) in portStreams.enumerated() {
                    var iterator = ports.makeAsyncIterator()
                    guard let port = await iterator.next() else {
                        throw BenchmarkHTTPError(description: "the lookup server did not start")
                    }
                    servers.append(Server(port: port, pirThreads: pirThreads[index], metrics: metricsOfServers[index]))
                }
                result = try await body(servers)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }
}

/// The database the in-process servers of `dp5-bench http` and `dp5-bench scaling` serve.
struct ServedDatabaseOptions: ParsableArguments {
    @Option(help: "Database size in MiB.")
    var megabytes = 256

    @Option(help: "Bytes of encrypted data per record (sets the record size, 10 + this).")
    var dataEncSize = 32

    func validate() throws {
        guard megabytes >= 1 else { throw ValidationError("--megabytes must be at least 1") }
    }

    /// Makes the database and prints its shape.
    func makeDatabase() throws -> PIRDatabase {
        let database = try PIRBenchmark.makeDatabase(bytes: megabytes << 20, recordSize: 10 + dataEncSize)
        print(
            "database: \(database.count >> 20) MiB, \(database.numberOfBlocks) buckets of \(database.blockSize) bytes"
        )
        return database
    }
}

extension DP5Metrics.PassTotals {
    /// The passes run since `before`: the queries each took (concurrent requests coalesced) and
    /// the mean pass, in milliseconds.
    func passes(since before: Self) -> (queriesPerPass: Double, meanPassMilliseconds: Double) {
        let passes = Double(max(1, self.passes - before.passes))
        return (
            Double(queries - before.queries) / passes,
            PIRBenchmark.seconds(duration - before.duration) * 1000 / passes
        )
    }
}
