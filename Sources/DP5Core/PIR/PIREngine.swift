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

    /// Creates an engine.
    ///
    /// - Precondition: `kernel` is available on this CPU.
    public init(kernel: Kernel = .best, threads: Int = 1) {
        precondition(kernel.isAvailable, "PIR kernel \(kernel) is not available on this CPU")
        self.kernel = kernel
        self.threads = max(1, threads)
    }

    /// Answers one batch on the calling thread: `numberOfQueries · blockSize` bytes.
    public func answer(_ batch: PIRQueryBatch, database: PIRDatabase) -> [UInt8] {
        precondition(batch.numberOfBlocks == database.numberOfBlocks, "query and database disagree on the block count")
        return answerColumns(batch.coefficients, queries: batch.numberOfQueries, database: database, columns: 0..<database.blockSize)
    }

    /// Answers several batches (for example the PIR requests of several clients) in one pass over
    /// the database, split over ``threads`` cores by record ranges: each core combines the same
    /// byte range of every block. Returns one answer per batch.
    public func answer(_ batches: [PIRQueryBatch], database: PIRDatabase) async -> [[UInt8]] {
        precondition(batches.allSatisfy { $0.numberOfBlocks == database.numberOfBlocks }, "query and database disagree on the block count")
        let coefficients = batches.flatMap(\.coefficients)
        let queries = batches.reduce(0) { $0 + $1.numberOfQueries }
        let blockSize = database.blockSize
        let ranges = Self.columnRanges(blockSize: blockSize, parts: threads)
        let combined: [UInt8]
        if ranges.count <= 1 {
            combined = answerColumns(coefficients, queries: queries, database: database, columns: 0..<blockSize)
        } else {
            let parts = await withTaskGroup(of: (Int, [UInt8]).self) { group in
                for (index, range) in ranges.enumerated() {
                    group.addTask { (index, answerColumns(coefficients, queries: queries, database: database, columns: range)) }
                }
                var parts = [[UInt8]](repeating: [], count: ranges.count)
                for await (index, part) in group { parts[index] = part }
                return parts
            }
            var whole = [UInt8](repeating: 0, count: queries * blockSize)
            for (range, part) in zip(ranges, parts) {
                for query in 0..<queries {
                    whole.replaceSubrange(
                        (query * blockSize + range.lowerBound)..<(query * blockSize + range.upperBound),
                        with: part[(query * range.count)..<((query + 1) * range.count)]
                    )
                }
            }
            combined = whole
        }
        var answers: [[UInt8]] = []
        var offset = 0
        for batch in batches {
            let length = batch.numberOfQueries * blockSize
            answers.append(Array(combined[offset..<(offset + length)]))
            offset += length
        }
        return answers
    }

    /// The answers of `queries` queries restricted to `columns` of every block, query-major,
    /// `queries · columns.count` bytes.
    private func answerColumns(_ coefficients: [UInt8], queries: Int, database: PIRDatabase, columns: Range<Int>) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: queries * columns.count)
        guard queries > 0, !columns.isEmpty, database.numberOfBlocks > 0 else { return output }
        var scratch = [UInt8](repeating: 0, count: database.numberOfBlocks * queries)
        database.bytes.withUnsafeBytes { raw in
            coefficients.withUnsafeBufferPointer { coefficients in
                output.withUnsafeMutableBufferPointer { output in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        let status = cgf256_answer(
                            kernel.cKernel,
                            raw.bindMemory(to: UInt8.self).baseAddress, database.numberOfBlocks, database.blockSize,
                            coefficients.baseAddress, queries,
                            output.baseAddress, columns.count, columns.lowerBound, columns.upperBound,
                            scratch.baseAddress
                        )
                        precondition(status == 0, "PIR kernel \(kernel) failed")
                    }
                }
            }
        }
        return output
    }

    /// Splits `0..<blockSize` into at most `parts` ranges whose boundaries are multiples of 64
    /// bytes, so every core's slice starts on a vector boundary.
    static func columnRanges(blockSize: Int, parts: Int) -> [Range<Int>] {
        let vectors = (blockSize + 63) / 64
        let count = max(1, min(parts, vectors))
        return (0..<count).map { part in
            let lower = min(blockSize, vectors * part / count * 64)
            let upper = min(blockSize, vectors * (part + 1) / count * 64)
            return lower..<upper
        }.filter { !$0.isEmpty }
    }
}
