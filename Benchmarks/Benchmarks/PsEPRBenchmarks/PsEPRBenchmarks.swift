import Benchmark
import NIOCore
import PsEPRCore
import PsEPRLoadGenerator

/// The PsEPR server's per-event work without sockets, each beside the reference a forwarder
/// cannot beat measured in the same run: framing, envelope scanning and encoding 1,000 events
/// of a stream against copying their bytes once; route-table lookups over a deep channel tree
/// against one exact-name dictionary lookup.
let benchmarks: @Sendable () -> Void = {
    // One iteration takes a whole stream of 1,000 events through a stage; mallocs are per 1,000 events.
    let perStream = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3)
    )
    // One iteration is one lookup; a thousand of them make a sample.
    let perLookup = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )
    let stream = EnvelopeStream(payloadBytes: 100)

    Benchmark("envelope, 1000 events: copy each stanza once (reference)", configuration: perStream) { _ in
        blackHole(stream.copyEach())
    }
    Benchmark("envelope, 1000 events: frame", configuration: perStream) { _ in
        blackHole(try stream.frame())
    }
    Benchmark("envelope, 1000 events: frame + scan", configuration: perStream) { _ in
        blackHole(try stream.frameAndScan())
    }
    Benchmark("envelope, 1000 events: one-pass read, one event at a time", configuration: perStream) { _ in
        blackHole(try stream.onePassRead())
    }
    Benchmark("envelope, 1000 events: same-envelope run + encode (a steady publisher)", configuration: perStream) { _ in
        blackHole(try stream.sameEnvelopeRun())
    }
    Benchmark("envelope, 1000 events: frame + scan + encode", configuration: perStream) { _ in
        blackHole(try stream.frameScanAndEncode())
    }

    for leases in [1_000, 100_000] {
        let routes = RouteLookups(leases: leases)
        Benchmark("route table: \(leases) leases, one lookup", configuration: perLookup) { benchmark in
            var index = 0
            for _ in benchmark.scaledIterations {
                blackHole(routes.lookup(index))
                index &+= 1
            }
        }
        Benchmark("route table: \(leases) leases, exact-name dictionary (reference)", configuration: perLookup) {
            benchmark in
            var index = 0
            for _ in benchmark.scaledIterations {
                blackHole(routes.flatLookup(index))
                index &+= 1
            }
        }
    }
}
