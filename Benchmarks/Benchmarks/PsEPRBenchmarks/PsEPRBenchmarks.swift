import Benchmark
import NIOCore
import PsEPRCore
import PsEPRLoadGenerator

/// The PsEPR server's per-event work without sockets, each beside the reference a forwarder
/// cannot beat measured in the same run: framing, envelope scanning and encoding 1,000 events
/// of a stream against copying their bytes once; route-table lookups over a deep channel tree
/// against one exact-name dictionary lookup.
let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions], scalingFactor: .kilo, maxDuration: .seconds(3)
    )
    let stream = EnvelopeStream(payloadBytes: 100)

    Benchmark("envelope: copy each stanza once (reference)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(stream.copyEach()) }
    }
    Benchmark("envelope: frame", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try stream.frame()) }
    }
    Benchmark("envelope: frame + scan", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try stream.frameAndScan()) }
    }
    Benchmark("envelope: frame + scan + encode", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try stream.frameScanAndEncode()) }
    }

    for leases in [1_000, 100_000] {
        let routes = RouteLookups(leases: leases)
        Benchmark("route table: \(leases) leases, one lookup", configuration: configuration) { benchmark in
            var index = 0
            for _ in benchmark.scaledIterations {
                blackHole(routes.lookup(index))
                index &+= 1
            }
        }
        Benchmark("route table: \(leases) leases, exact-name dictionary (reference)", configuration: configuration) { benchmark in
            var index = 0
            for _ in benchmark.scaledIterations {
                blackHole(routes.flatLookup(index))
                index &+= 1
            }
        }
    }
}
