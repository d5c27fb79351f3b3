import ArgumentParser
import DP5Core
import Foundation

/// `dp5-bench`: times a lookup server's PIR answer over large databases with every kernel.
///
/// Each figure comes with its ratio to the portable kernel (a 256-entry row of the product table
/// per coefficient, the original's method) measured in the same run, and to a plain read of the
/// database (this machine's memory speed on one core). Build and run in release mode:
/// `swift run -c release dp5-bench` (or `dp5-bench kernels`).
struct PIRBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time the PIR answer of a DP5 lookup server with every GF(2^8) kernel."
    )

    @Option(parsing: .upToNextOption, help: "Database sizes in MiB.")
    var megabytes: [Int] = [256, 1024]

    @Option(help: "Bytes of encrypted data per record (sets the record size, 10 + this).")
    var dataEncSize = 32

    @Option(parsing: .upToNextOption, help: "Queries per pass to time.")
    var queries: [Int] = [1, 10, 100]

    @Option(help: "Passes per measurement; the fastest counts.")
    var repetitions = 3

    @Option(help: "Cores for the multi-core line (default: all).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() async throws {
        print(
            "build: \(Self.isOptimised ? "optimised" : "UNOPTIMISED (use -c release)"); kernels here: \(PIREngine.Kernel.available.map(\.description).joined(separator: ", "))"
        )
        print("GB/s = database bytes × queries / second; one core unless the kernel says otherwise.")
        for size in megabytes {
            let database = try Self.makeDatabase(bytes: size << 20, recordSize: 10 + dataEncSize)
            print(
                "\ndatabase: \(database.count >> 20) MiB, \(database.numberOfBlocks) buckets of \(database.blockSize) bytes"
            )
            print(Self.hugePageLine)
            print(
                "kernel".padding(toLength: 26, withPad: " ", startingAt: 0)
                    + "queries   seconds       GB/s   × portable   × memory"
            )
            let memory = fastest { Self.memoryPass(database) }
            let memoryRate = Double(database.count) / memory / 1e9
            print(Self.row("memory read (reference)", "-", memory, memoryRate, nil, 1))
            var portableRate: [Int: Double] = [:]
            for count in queries {
                let batch = Self.randomBatch(queries: count, blocks: database.numberOfBlocks)
                let swiftTable = fastest { _ = Self.swiftTableAnswer(batch, database: database) }
                if count == 1 {
                    let rate = Double(database.count) / swiftTable / 1e9
                    print(Self.row("table, Swift (first port)", "1", swiftTable, rate, nil, rate / memoryRate))
                }
                for kernel in PIREngine.Kernel.available {
                    // The table kernels are slow; 100 queries over a GiB would take minutes.
                    if kernel == .portable && count > 10 { continue }
                    let engine = PIREngine(kernel: kernel)
                    let seconds = fastest { _ = engine.answer(batch, database: database) }
                    let rate = Double(database.count) * Double(count) / seconds / 1e9
                    if kernel == .portable { portableRate[count] = rate }
                    let base = portableRate[count] ?? portableRate[1]
                    print(
                        Self.row(
                            kernel.description,
                            String(count),
                            seconds,
                            rate,
                            base.map { rate / $0 },
                            rate / memoryRate
                        )
                    )
                }
                if threads > 1 {
                    let engine = PIREngine(threads: threads)
                    let seconds = try await fastestAsync { _ = await engine.answer([batch], database: database) }
                    let rate = Double(database.count) * Double(count) / seconds / 1e9
                    let base = portableRate[count] ?? portableRate[1]
                    print(
                        Self.row(
                            "\(engine.kernel), \(threads) cores",
                            String(count),
                            seconds,
                            rate,
                            base.map { rate / $0 },
                            rate / memoryRate
                        )
                    )
                }
            }
        }
    }

    static func row(
        _ name: String,
        _ queries: String,
        _ seconds: Double,
        _ rate: Double,
        _ versusPortable: Double?,
        _ versusMemory: Double
    ) -> String {
        name.padding(toLength: 26, withPad: " ", startingAt: 0)
            + queries.padding(toLength: 7, withPad: " ", startingAt: 0)
            + String(format: "%10.4f %10.2f", seconds, rate)
            + (versusPortable.map { String(format: " %11.1f×", $0) } ?? "            -")
            + String(format: " %9.2f×", versusMemory)
    }

    private func fastest(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        return (0..<max(1, repetitions)).map { _ in Self.seconds(clock.measure(body)) }.min()!
    }

    private func fastestAsync(_ body: () async -> Void) async throws -> Double {
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) { best = min(best, Self.seconds(await clock.measure { await body() })) }
        return best
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func randomBatch(queries: Int, blocks: Int) -> PIRQueryBatch {
        // Seeded once from the system: drawing each of a 100-query batch's 1.6 million
        // coefficients from it took a `getrandom` call apiece, seconds of setup for every row.
        var generator = XorshiftGenerator(seed: UInt64.random(in: 1...UInt64.max))
        return PIRQueryBatch(
            numberOfBlocks: blocks,
            coefficients: (0..<(queries * blocks)).map { _ in UInt8.random(in: 1...255, using: &generator) }
        )
    }

    /// The first Swift implementation: a 256-entry table row per coefficient, byte by byte.
    static func swiftTableAnswer(_ batch: PIRQueryBatch, database: PIRDatabase) -> [UInt8] {
        var answer = [UInt8](repeating: 0, count: batch.numberOfQueries * database.blockSize)
        let coefficients = batch.coefficients
        database.bytes.withUnsafeBytes { raw in
            let base = raw.bindMemory(to: UInt8.self).baseAddress!
            answer.withUnsafeMutableBufferPointer { output in
                for block in 0..<database.numberOfBlocks {
                    for query in 0..<batch.numberOfQueries {
                        GF256Kernel.multiplyAccumulate(
                            coefficients[query * batch.numberOfBlocks + block],
                            source: base + block * database.blockSize,
                            into: output.baseAddress! + query * database.blockSize,
                            count: database.blockSize
                        )
                    }
                }
            }
        }
        return answer
    }

    /// A database shaped as DP5 shapes one: about √size buckets of equal size, random bytes.
    static func makeDatabase(bytes: Int, recordSize: Int) throws -> PIRDatabase {
        let records = max(1, bytes / recordSize)
        let buckets = Int(Double(records * recordSize).squareRoot().rounded(.up))
        let bucketSize = (records + buckets - 1) / buckets
        // In the memory a lookup server keeps its databases in (2 MiB-aligned, huge pages where
        // the system has them), so kernels and the memory read reference stream the same pages.
        let data = PIRDatabase.streamingStorage(count: buckets * bucketSize * recordSize) { raw in
            var generator = XorshiftGenerator(seed: 0x2545_F491_4F6C_DD1D)
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices { words[index] = generator.next() }
        }
        return try PIRDatabase(numberOfBlocks: buckets, blockSize: bucketSize * recordSize, bytes: data)
    }

    /// What backs the benchmark's memory: the system's transparent huge page setting and how much
    /// of this process's memory huge pages hold (the database, if they took).
    static var hugePageLine: String {
        let setting =
            (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8))?
            .split(separator: " ").first { $0.hasPrefix("[") }.map { String($0.dropFirst().dropLast()) } ?? "unknown"
        let rollup = (try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8)) ?? ""
        let kilobytes = rollup.split(separator: "\n").first { $0.hasPrefix("AnonHugePages:") }?
            .split(separator: " ").dropFirst().first.flatMap { Int($0) }
        return
            "memory: transparent huge pages \(setting); \(kilobytes.map { "\($0 >> 10) MiB" } ?? "unknown") of this process in huge pages"
    }

    /// Reads every byte once; the result must not be optimised away.
    static func memoryPass(_ database: PIRDatabase) {
        let folded = database.bytes.withUnsafeBytes { $0.bindMemory(to: UInt64.self).reduce(0, ^) }
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

/// Marsaglia's xorshift64: fast, and random enough for benchmark queries (never zero once
/// seeded with a non-zero state).
struct XorshiftGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed == 0 ? 0x2545_F491_4F6C_DD1D : seed
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
