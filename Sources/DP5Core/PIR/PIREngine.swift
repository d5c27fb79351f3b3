import CGF256
import Foundation

/// Answers PIR queries over a database with the fastest GF(2^8) kernel the CPU has, optionally
/// split over several cores.
///
/// Kernels (``Kernel``), chosen at run time: GFNI (`gf2p8mulb`, which multiplies modulo 0x11B,
/// exactly DP5's field) in 64- or 32-byte form, AVX2 or SSSE3 nibble-table shuffles, and a
/// portable 256 × 256 table kernel (the original's method) that the others are tested against.
/// All queries of a pass share each read of the database.
public struct PIREngine: Sendable {
    /// A GF(2^8) multiply-accumulate kernel.
    public enum Kernel: Int, Sendable, CaseIterable, CustomStringConvertible {
        /// 256 × 256 product table, a byte at a time.
        case portable
        /// 16-byte nibble-table shuffles.
        case ssse3
        /// 32-byte nibble-table shuffles.
        case avx2
        /// 32-byte `gf2p8mulb`.
        case gfniAVX2
        /// 64-byte `gf2p8mulb`.
        case gfniAVX512

        /// Whether this CPU can run the kernel.
        public var isAvailable: Bool { cgf256_kernel_available(cKernel) != 0 }

        /// The fastest kernel this CPU can run.
        public static var best: Kernel { Kernel(rawValue: Int(cgf256_best_kernel().rawValue)) ?? .portable }

        /// The kernels this CPU can run, slowest first.
        public static var available: [Kernel] { allCases.filter(\.isAvailable) }

        var cKernel: cgf256_kernel { cgf256_kernel(rawValue: UInt32(rawValue)) }

        public var description: String { String(cString: cgf256_kernel_name(cKernel)) }
    }

    /// The kernel used.
    public let kernel: Kernel
    /// How many cores one pass may use.
    public let threads: Int
    /// Where the parts of a pass run.
    public let workers: any PIRPassWorkers
    /// The least database bytes worth a part of its own: below it a pass runs in fewer parts
    /// (starting a part costs more than streaming a small database on one core).
    public let minimumPartBytes: Int

    /// Creates an engine.
    ///
    /// - Precondition: `kernel` is available on this CPU.
    public init(
        kernel: Kernel = .best, threads: Int = 1, workers: any PIRPassWorkers = CallerPIRWorkers(),
        minimumPartBytes: Int = 1 << 20
    ) {
        precondition(kernel.isAvailable, "PIR kernel \(kernel) is not available on this CPU")
        self.kernel = kernel
        self.threads = max(1, threads)
        self.workers = workers
        self.minimumPartBytes = max(0, minimumPartBytes)
    }

    /// Answers one batch on the calling thread: `numberOfQueries · blockSize` bytes.
    public func answer(_ batch: PIRQueryBatch, database: PIRDatabase) -> [UInt8] {
        precondition(batch.numberOfBlocks == database.numberOfBlocks, "query and database disagree on the block count")
        return answerBlocks(batch.coefficients, queries: batch.numberOfQueries, database: database, blocks: 0..<database.numberOfBlocks)
    }

    /// Answers several batches (for example the PIR requests of several clients) in one pass over
    /// the database, run by ``workers`` in up to ``threads`` parts. Each part streams its own
    /// contiguous range of blocks (no two cores read the same cache line) into a whole-width partial
    /// answer; the parts' answers are added (XOR) at the end. Returns one answer per batch.
    public func answer(_ batches: [PIRQueryBatch], database: PIRDatabase) async -> [[UInt8]] {
        precondition(batches.allSatisfy { $0.numberOfBlocks == database.numberOfBlocks }, "query and database disagree on the block count")
        // A lone batch (the usual single request) is answered from its own coefficients, and its
        // answer is returned as it is: no copies beyond the kernel's.
        let coefficients = batches.count == 1 ? batches[0].coefficients : batches.flatMap(\.coefficients)
        let queries = batches.reduce(0) { $0 + $1.numberOfQueries }
        let blockSize = database.blockSize
        let partsWorthRunning = minimumPartBytes == 0 ? threads : max(1, database.count / minimumPartBytes)
        let ranges = Self.blockRanges(numberOfBlocks: database.numberOfBlocks, parts: min(threads, partsWorthRunning))
        let engine = self
        let combined: [UInt8]
        if ranges.count <= 1 {
            combined = await workers.run {
                engine.answerBlocks(coefficients, queries: queries, database: database, blocks: 0..<database.numberOfBlocks)
            }
        } else {
            combined = await withTaskGroup(of: [UInt8].self) { group in
                for range in ranges {
                    group.addTask {
                        await engine.workers.run { engine.answerBlocks(coefficients, queries: queries, database: database, blocks: range) }
                    }
                }
                var sum = [UInt8](repeating: 0, count: queries * blockSize)
                for await part in group { Self.add(part, into: &sum) }
                return sum
            }
        }
        if batches.count == 1 { return [combined] }
        var answers: [[UInt8]] = []
        var offset = 0
        for batch in batches {
            let length = batch.numberOfQueries * blockSize
            answers.append(Array(combined[offset..<(offset + length)]))
            offset += length
        }
        return answers
    }

    /// The whole-width answers of `queries` queries over `blocks` alone, query-major: the sum over
    /// every part's blocks is the answer over the database.
    private func answerBlocks(_ coefficients: [UInt8], queries: Int, database: PIRDatabase, blocks: Range<Int>) -> [UInt8] {
        let total = database.numberOfBlocks, blockSize = database.blockSize
        var output = [UInt8](repeating: 0, count: queries * blockSize)
        guard queries > 0, blockSize > 0, !blocks.isEmpty else { return output }
        // This part's coefficients, query-major over its blocks (the whole database's as they are).
        var own = coefficients
        if blocks.count != total {
            own = [UInt8](repeating: 0, count: queries * blocks.count)
            for query in 0..<queries {
                own.replaceSubrange((query * blocks.count)..<((query + 1) * blocks.count),
                                    with: coefficients[(query * total + blocks.lowerBound)..<(query * total + blocks.upperBound)])
            }
        }
        var scratch = [UInt8](repeating: 0, count: blocks.count * queries)
        database.bytes.withUnsafeBytes { raw in
            own.withUnsafeBufferPointer { own in
                output.withUnsafeMutableBufferPointer { output in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        let status = cgf256_answer(
                            kernel.cKernel,
                            raw.bindMemory(to: UInt8.self).baseAddress! + blocks.lowerBound * blockSize, blocks.count, blockSize,
                            own.baseAddress, queries,
                            output.baseAddress, blockSize, 0, blockSize,
                            scratch.baseAddress
                        )
                        precondition(status == 0, "PIR kernel \(kernel) failed")
                    }
                }
            }
        }
        return output
    }

    /// Adds (XORs) `part` into `sum`, eight bytes at a time.
    private static func add(_ part: [UInt8], into sum: inout [UInt8]) {
        precondition(part.count == sum.count)
        part.withUnsafeBytes { part in
            sum.withUnsafeMutableBytes { sum in
                let words = sum.count / 8
                for index in 0..<words {
                    let value = part.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) ^ sum.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                    sum.storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self)
                }
                for index in (words * 8)..<sum.count { sum[index] ^= part[index] }
            }
        }
    }

    /// Splits `0..<numberOfBlocks` into at most `parts` contiguous, nearly equal ranges.
    public static func blockRanges(numberOfBlocks: Int, parts: Int) -> [Range<Int>] {
        let count = max(1, min(parts, numberOfBlocks))
        return (0..<count).map { part in
            (numberOfBlocks * part / count)..<(numberOfBlocks * (part + 1) / count)
        }.filter { !$0.isEmpty }
    }
}
