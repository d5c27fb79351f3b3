import ArgumentParser
import Crypto
import DP5Core
import Foundation

/// `dp5-bench bls`: combined mode's costs — pairing, hash_to_G2, σ, the registration server's
/// ingest of many registrations, and the PIR work of one lookup in combined and standard mode
/// at the same number of users.
///
/// Every time comes with its ratio to one X25519 key agreement (swift-crypto) measured in the
/// same run, so figures from a loaded machine can still be compared.
struct BLSBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bls",
        abstract:
            "Time BLS12-381 pairing, hash_to_G2, σ, combined ingest, and PIR per lookup in combined vs standard mode."
    )

    @Option(help: "Repetitions of each single operation; the median counts.")
    var repetitions = 200

    @Option(help: "Registrations for the ingest measurement.")
    var registrations = 10_000

    @Option(help: "Users N for the PIR comparison (standard mode stores 100 N records, combined N).")
    var users = 10_000

    @Option(help: "Bytes of encrypted data per record.")
    var dataEncSize = 32

    @Option(help: "Cores for the ingest (default: all).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() async throws {
        print(
            "build: \(PIRBenchmark.isOptimised ? "optimised" : "UNOPTIMISED (use -c release)"); \(ProcessInfo.processInfo.activeProcessorCount) cores"
        )
        let reference = try median { try Self.x25519() }
        print("reference: one X25519 key agreement \(Self.format(reference))")
        print("operation".padding(toLength: 44, withPad: " ", startingAt: 0) + "      time   × X25519   goal")
        func row(_ name: String, _ seconds: Double, goal: String = "") {
            print(
                name.padding(toLength: 44, withPad: " ", startingAt: 0) + Self.format(seconds).leftPadded(10)
                    + String(format: " %9.1f×", seconds / reference) + "   " + goal
            )
        }
        var generator = SystemRandomNumberGenerator()
        let key = BLSPrivateKey.generate(using: &generator)
        let epochHash = CombinedEpochHash(epoch: Epoch(123_456))
        let sigma = key.epochSignature(epochHash)
        let sigmaBytes = sigma.compressed

        row("pairing e(P, Q)", try median { _ = BLS12381.pairing(key.publicKey.point, sigma) }, goal: "≤ 1.5 ms")
        let prepared = PreparedG2Point(epochHash.point)
        row("pairing with prepared lines (lookup)", try median { _ = BLS12381.pairing(key.publicKey.point, prepared) })
        row(
            "hash_to_G2 of an epoch",
            try median { _ = BLS12381.hashToG2(Epoch(7).wireBytes, dst: CombinedEpochHash.domainSeparationTag) },
            goal: "≤ 0.5 ms"
        )
        row(
            "σ = x · H_G2(E), compressed",
            try median { _ = key.epochSignature(epochHash).compressed },
            goal: "≤ 0.5 ms"
        )
        row("σ decoded and checked (subgroup)", try median { _ = try G2Point(compressed: sigmaBytes) })
        row(
            "public key decoded and checked",
            try median { _ = try BLSPublicKey(rawRepresentation: key.publicKey.rawRepresentation) }
        )
        row("H_G2(E) and its lines (once per epoch)", try median { _ = CombinedEpochHash(epoch: Epoch(9)) })

        // Ingest: the registration server's work for `registrations` messages.
        let configuration = try DP5Configuration(dataEncSize: dataEncSize, combined: true)
        let epoch = Epoch(1_000)
        let ingestHash = CombinedEpochHash(epoch: epoch)
        let clock = ContinuousClock()
        print("\nmaking \(registrations) registration messages…")
        let count = registrations
        let plain = configuration.dataPlainSize
        let messages = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            let workers = max(1, threads)
            for worker in 0..<workers {
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    return try stride(from: worker, to: count, by: workers).map { _ in
                        try CombinedRegistrationClient(
                            privateKey: BLSPrivateKey.generate(using: &generator),
                            configuration: configuration
                        )
                        .registrationMessage(
                            epoch: epoch,
                            data: [UInt8](repeating: 0x41, count: plain),
                            epochHash: ingestHash
                        )
                    }
                }
            }
            var all: [[UInt8]] = []
            for try await part in group { all += part }
            return all
        }
        let processor = CombinedRegistrationProcessor(configuration: configuration)
        var single: Double?
        if threads > 1 {
            let sample = Array(messages.prefix(max(1, count / 10)))
            let seconds = PIRBenchmark.seconds(
                await clock.measure { _ = await processor.processBatch(sample, nextEpoch: epoch, concurrency: 1) }
            )
            single = seconds * Double(count) / Double(sample.count)
            print(
                "ingest, 1 core: \(sample.count) registrations in \(Self.format(seconds)) (\(Self.format(seconds / Double(sample.count))) each; \(count) would take \(Self.format(single!)))"
            )
        }
        let ingest = PIRBenchmark.seconds(
            await clock.measure {
                let outcomes = await processor.processBatch(messages, nextEpoch: epoch, concurrency: threads)
                precondition(outcomes.allSatisfy { $0.outcome.reply.status == .accepted })
            }
        )
        print(
            "ingest, \(threads) cores: \(count) registrations in \(Self.format(ingest)) (\(Self.format(ingest / Double(count))) each"
                + (single.map { String(format: "; %.2f× one core", $0 / ingest) } ?? "") + ")   goal: 10,000 in ≤ 15 s"
        )

        // PIR work per lookup: one pass of 100 queries (a lookup of many buddies) over the
        // database of `users` users in each mode, on one core.
        let recordSize = 10 + dataEncSize
        print("\nPIR per lookup (100 queries, one core) at N = \(users) users, \(recordSize)-byte records:")
        let combinedDatabase = try PIRBenchmark.makeDatabase(bytes: users * recordSize, recordSize: recordSize)
        let standardDatabase = try PIRBenchmark.makeDatabase(
            bytes: users * DP5Parameters.maximumBuddies * recordSize,
            recordSize: recordSize
        )
        let engine = PIREngine()
        func pir(_ database: PIRDatabase) -> Double {
            let batch = PIRBenchmark.randomBatch(
                queries: DP5Parameters.pirQueryCounts.multiple,
                blocks: database.numberOfBlocks
            )
            return (0..<3).map { _ in
                PIRBenchmark.seconds(clock.measure { _ = engine.answer(batch, database: database) })
            }.min()!
        }
        let standardSeconds = pir(standardDatabase)
        let combinedSeconds = pir(combinedDatabase)
        print(
            "  standard: \(standardDatabase.count >> 10) KiB database, \(Self.format(standardSeconds)) per lookup per lookup server"
        )
        print(
            "  combined: \(combinedDatabase.count >> 10) KiB database, \(Self.format(combinedSeconds)) per lookup per lookup server"
        )
        print(String(format: "  combined / standard = 1/%.0f   goal: ≤ 1/50", standardSeconds / combinedSeconds))
    }

    private func median(_ body: () throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<max(1, repetitions) {
            var failure: (any Error)?
            let elapsed = clock.measure {
                do { try body() } catch { failure = error }
            }
            if let failure { throw failure }
            samples.append(PIRBenchmark.seconds(elapsed))
        }
        return samples.sorted()[samples.count / 2]
    }

    private static let x25519Keys = (
        Curve25519.KeyAgreement.PrivateKey(), Curve25519.KeyAgreement.PrivateKey().publicKey
    )

    static func x25519() throws {
        _ = try x25519Keys.0.sharedSecretFromKeyAgreement(with: x25519Keys.1)
    }

    static func format(_ seconds: Double) -> String {
        if seconds >= 1 { return String(format: "%.2f s", seconds) }
        if seconds >= 1e-3 { return String(format: "%.3f ms", seconds * 1e3) }
        return String(format: "%.1f µs", seconds * 1e6)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
