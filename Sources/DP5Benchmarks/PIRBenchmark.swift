import ArgumentParser
import DP5Core
import Foundation

/// `dp5-bench`: times one lookup server's PIR answer over a large database.
///
/// Every figure is printed with its ratio to a reference measured in the same run: a plain
/// read of the whole database (XOR of all 64-bit words), i.e. this machine's memory speed for
/// one core. Build and run in release mode: `swift run -c release dp5-bench`.
@main
struct PIRBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dp5-bench",
        abstract: "Time the PIR answer of a DP5 lookup server over a large database."
    )

    @Option(help: "Database size in MiB.")
    var megabytes = 256

    @Option(help: "Bytes of encrypted data per record (sets the record size, 10 + this).")
    var dataEncSize = 32

    @Option(parsing: .upToNextOption, help: "Queries per pass to time.")
    var queries: [Int] = [1, 10]

    @Option(help: "Passes per measurement; the fastest counts.")
    var repetitions = 3

    func run() throws {
        let database = try Self.makeDatabase(bytes: megabytes << 20, recordSize: 10 + dataEncSize)
        print("database: \(database.count >> 20) MiB, \(database.numberOfBlocks) buckets of \(database.blockSize) bytes")
        print("build: \(Self.isOptimised ? "optimised" : "UNOPTIMISED (use -c release)")")

        let reference = fastest { Self.memoryPass(database) }
        let referenceRate = Double(database.count) / reference / 1e9
        print(row("memory pass (reference)", "-", reference, referenceRate, 1))
        for count in queries {
            var generator = SystemRandomNumberGenerator()
            let coefficients = (0..<(count * database.numberOfBlocks)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let batch = PIRQueryBatch(numberOfBlocks: database.numberOfBlocks, coefficients: coefficients)
            let seconds = fastest { _ = PIRServer.answer(batch, database: database).count }
            let rate = Double(database.count) * Double(count) / seconds / 1e9
            print(row("PIR answer, portable kernel", String(count), seconds, rate, rate / referenceRate))
        }
        print("GB/s = database bytes × queries / second, one core.")
    }

    private func row(_ name: String, _ queries: String, _ seconds: Double, _ rate: Double, _ ratio: Double) -> String {
        name.padding(toLength: 30, withPad: " ", startingAt: 0)
            + queries.padding(toLength: 9, withPad: " ", startingAt: 0)
            + String(format: "%8.3f s %8.2f GB/s %7.2f× reference", seconds, rate, ratio)
    }

    private func fastest(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) {
            let elapsed = clock.measure(body)
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        return best
    }

    /// A database shaped as DP5 shapes one: about sqrt(size) buckets of equal size.
    static func makeDatabase(bytes: Int, recordSize: Int) throws -> PIRDatabase {
        let records = max(1, bytes / recordSize)
        let buckets = Int(Double(records * recordSize).squareRoot().rounded(.up))
        let bucketSize = (records + buckets - 1) / buckets
        let total = buckets * bucketSize * recordSize
        var data = Data(count: total)
        data.withUnsafeMutableBytes { raw in
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                words[index] = state
            }
        }
        return try PIRDatabase(numberOfBlocks: buckets, blockSize: bucketSize * recordSize, bytes: data)
    }

    /// Reads every byte once; the result is printed nowhere but must not be optimised away.
    static func memoryPass(_ database: PIRDatabase) {
        let folded = database.bytes.withUnsafeBytes { raw in
            raw.bindMemory(to: UInt64.self).reduce(0, ^)
        }
        if folded == 0x0123_4567_89AB_CDEF { print("") }
    }

    static var isOptimised: Bool {
        #if DEBUG
        false
        #else
        true
        #endif
    }
}
