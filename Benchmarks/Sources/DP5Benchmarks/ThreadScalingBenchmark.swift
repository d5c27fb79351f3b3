import ArgumentParser
import DP5Core
import DP5Server
import Foundation

/// `dp5-bench scaling`: how many more lookups a server answers on all its PIR threads than on one.
///
/// Two lookup servers run in this process over the same database, one with a single PIR thread
/// and one with `--pir-threads`, and the same row (`--clients` clients sending `--requests`
/// requests of `--queries` queries each, the prober's `GET /` meanwhile) is driven against them in
/// turn: one thread, all threads, one thread, … ending on one thread. Each all-threads row is
/// compared with the mean of the one-thread rows just before and just after it, seconds away, so a
/// change in the shared machine's speed during the run moves a row and its reference together
/// (separate runs of `dp5-bench http`, minutes apart, moved by as much as the goal's margin).
struct ThreadScalingBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract:
            "Alternate the same HTTP row between lookup servers on one and on all PIR threads; the ratio of their lookups/s."
    )

    @OptionGroup var served: ServedDatabaseOptions

    @Option(help: "Concurrent clients.")
    var clients = 8

    @Option(help: "Queries per request (at most 100).")
    var queries = 100

    @Option(help: "Requests each client sends per row.")
    var requests = 10

    @Option(help: "All-threads rows, each between two one-thread rows.")
    var rounds = 5

    @Option(help: "The PIR threads of the server compared with one thread (default: all cores).")
    var pirThreads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (1...100).contains(queries) else { throw ValidationError("--queries: 1 to 100 per request") }
        guard clients >= 1, requests >= 1, rounds >= 1, pirThreads >= 2 else {
            throw ValidationError(
                "--clients, --requests and --rounds must be at least 1, --pir-threads at least 2"
            )
        }
    }

    func run() async throws {
        print(
            "build: \(PIRBenchmark.isOptimised ? "optimised" : "UNOPTIMISED (use -c release)"); kernel \(PIREngine.Kernel.best)"
        )
        let database = try served.makeDatabase()
        let epoch = Epoch(1000)
        let (one, all) = try await InProcessLookupServers.run(
            database: database,
            epoch: epoch,
            dataEncSize: served.dataEncSize,
            pirThreads: [1, pirThreads]
        ) { servers in
            var drivers: [any BenchmarkHTTPDriver] = []
            do {
                for server in servers { drivers.append(try await NIODriver(port: server.port, clients: clients)) }
                // The first pass on each server maps its data file in; no row measures it.
                for driver in drivers {
                    _ = try await HTTPLookupBenchmark.drive(
                        driver,
                        epoch: epoch,
                        database: database,
                        queries: 1,
                        clients: 1,
                        requests: 1
                    )
                }
                var one: [ScalingRow] = []
                var all: [ScalingRow] = []
                for round in 0...rounds {
                    one.append(try await row(on: drivers[0], server: servers[0], epoch: epoch, database: database))
                    if round < rounds {
                        all.append(try await row(on: drivers[1], server: servers[1], epoch: epoch, database: database))
                    }
                }
                for driver in drivers { await driver.shutdown() }
                return (one, all)
            } catch {
                for driver in drivers { await driver.shutdown() }
                throw error
            }
        }

        print(
            "\n\(clients) clients × \(queries) queries, \(requests) requests from each client a row. Each \(pirThreads)-thread row over the mean of the 1-thread rows beside it: lookups/s end to end, and the rate of the server's own passes (queries over pass time)"
        )
        print(
            "round   lookups/s: 1 thread  \(pirThreads) threads   ratio    passes: q/pass  ms (1)   ms (\(pirThreads))   ratio    GET / p99 ms (1, \(pirThreads))"
        )
        var lookupRatios: [Double] = []
        var passRatios: [Double] = []
        for (round, row) in all.enumerated() {
            let before = one[round]
            let after = one[round + 1]
            lookupRatios.append(row.lookupsPerSecond / ((before.lookupsPerSecond + after.lookupsPerSecond) / 2))
            passRatios.append(row.passRate / ((before.passRate + after.passRate) / 2))
            print(
                String(
                    format: "%5d %18.1f %10.1f %7.2f× %14.0f %8.1f %10.1f %8.2f×   %6.1f %6.1f",
                    round + 1,
                    before.lookupsPerSecond,
                    row.lookupsPerSecond,
                    lookupRatios[round],
                    row.queriesPerPass,
                    before.meanPassMilliseconds,
                    row.meanPassMilliseconds,
                    passRatios[round],
                    before.getP99,
                    row.getP99
                )
            )
        }
        print(String(format: "%5@ %18.1f %36.1f", "", one[rounds].lookupsPerSecond, one[rounds].meanPassMilliseconds))
        for (name, ratios) in [("lookups/s end to end", lookupRatios), ("passes", passRatios)] {
            let sorted = ratios.sorted()
            print(
                String(
                    format: "%d threads ÷ 1, %@: median %.2f×, range %.2f–%.2f×",
                    pirThreads,
                    name,
                    HTTPLookupBenchmark.median(sorted),
                    sorted.first ?? .nan,
                    sorted.last ?? .nan
                )
            )
        }
    }

    /// One row's figures: lookups/s end to end, and the server's own passes meanwhile.
    struct ScalingRow {
        let lookupsPerSecond: Double
        let queriesPerPass: Double
        let meanPassMilliseconds: Double
        let getP99: Double
        /// Queries answered per second of pass time.
        var passRate: Double { queriesPerPass / meanPassMilliseconds * 1000 }
    }

    private func row(
        on driver: any BenchmarkHTTPDriver,
        server: InProcessLookupServers.Server,
        epoch: Epoch,
        database: PIRDatabase
    ) async throws -> ScalingRow {
        let before = server.metrics.passTotals
        let row = try await HTTPLookupBenchmark.drive(
            driver,
            epoch: epoch,
            database: database,
            queries: queries,
            clients: clients,
            requests: requests
        )
        let passes = server.metrics.passTotals.passes(since: before)
        return ScalingRow(
            lookupsPerSecond: row.lookupsPerSecond,
            queriesPerPass: passes.queriesPerPass,
            meanPassMilliseconds: passes.meanPassMilliseconds,
            getP99: row.probes.percentile(99)
        )
    }
}
