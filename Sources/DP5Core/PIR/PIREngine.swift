import CGF256
import Foundation
import Synchronization

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
    /// The least database bytes one piece of a multi-part pass holds, but the column strips that
    /// end a many-query pass. The parts of a pass take pieces in turn; see
    /// ``passPieces(numberOfBlocks:blockSize:tileBlocks:pieceBytes:parts:)``.
    public let pieceBytes: Int

    /// Creates an engine.
    ///
    /// - Precondition: `kernel` is available on this CPU.
    public init(
        kernel: Kernel = .best,
        threads: Int = 1,
        workers: any PIRPassWorkers = CallerPIRWorkers(),
        minimumPartBytes: Int = 1 << 20,
        pieceBytes: Int = PIREngine.defaultPieceBytes
    ) {
        precondition(kernel.isAvailable, "PIR kernel \(kernel) is not available on this CPU")
        self.kernel = kernel
        self.threads = max(1, threads)
        self.workers = workers
        self.minimumPartBytes = max(0, minimumPartBytes)
        self.pieceBytes = max(1, pieceBytes)
    }

    /// Answers one batch on the calling thread: `numberOfQueries · blockSize` bytes.
    public func answer(_ batch: PIRQueryBatch, database: PIRDatabase) -> [UInt8] {
        precondition(batch.numberOfBlocks == database.numberOfBlocks, "query and database disagree on the block count")
        return answerBlocks(
            batch.coefficientBytes,
            queries: batch.numberOfQueries,
            database: database,
            blocks: 0..<database.numberOfBlocks
        )
    }

    /// Answers several batches (for example the PIR requests of several clients) in one pass over
    /// the database, run by ``workers`` in up to ``threads`` parts. The pass is cut into pieces
    /// (``passPieces(numberOfBlocks:blockSize:tileBlocks:pieceBytes:parts:)``) that the parts take
    /// in turn from a shared counter, each into a whole-width partial answer of its own; the
    /// parts' answers are added (XOR) at the end. So every core streams distinct memory, and a
    /// part that starts late (its thread waited for a core, or was preempted) takes fewer pieces
    /// instead of holding the pass up by its whole share. Returns one answer per batch.
    public func answer(_ batches: [PIRQueryBatch], database: PIRDatabase) async -> [[UInt8]] {
        precondition(
            batches.allSatisfy { $0.numberOfBlocks == database.numberOfBlocks },
            "query and database disagree on the block count"
        )
        // A lone batch (the usual single request) is answered from its own coefficients, and its
        // answer is returned as it is: no copies beyond the kernel's.
        let coefficients =
            batches.count == 1 ? batches[0].coefficientBytes : ArraySlice(batches.flatMap(\.coefficientBytes))
        let queries = batches.reduce(0) { $0 + $1.numberOfQueries }
        let blockSize = database.blockSize
        let partsWorthRunning = minimumPartBytes == 0 ? threads : max(1, database.count / minimumPartBytes)
        let partsWanted = min(threads, partsWorthRunning)
        let pieces = Self.passPieces(
            numberOfBlocks: database.numberOfBlocks,
            blockSize: blockSize,
            tileBlocks: Int(cgf256_tile_blocks(kernel.cKernel, queries)),
            pieceBytes: pieceBytes,
            parts: partsWanted
        )
        let parts = min(partsWanted, pieces.count)
        let engine = self
        let combined: [UInt8]
        if parts <= 1 {
            combined = await workers.run {
                engine.answerBlocks(
                    coefficients,
                    queries: queries,
                    database: database,
                    blocks: 0..<database.numberOfBlocks
                )
            }
        } else {
            let cursor = PieceCursor()
            // The parts' answers are added as they finish, on the threads that computed them; a
            // part that found no piece left returns nothing.
            let sum = await workers.run(parts: parts) {
                engine.answerPieces(
                    coefficients,
                    queries: queries,
                    database: database,
                    pieces: pieces,
                    cursor: cursor
                )
            } fold: { sum, part in
                if sum.isEmpty { sum = part } else if !part.isEmpty { Self.add(part, into: &sum) }
            }
            combined = sum.isEmpty ? [UInt8](repeating: 0, count: queries * blockSize) : sum
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

    /// The default ``pieceBytes``: small enough that the parts of a pass end within a fraction of
    /// a millisecond of each other, large enough that taking a piece (and restarting the
    /// prefetch streams) costs nothing measurable.
    public static let defaultPieceBytes = 4 << 20

    /// One piece of a multi-part pass: some of the database's blocks, or some columns of them.
    public struct Piece: Sendable, Equatable {
        /// The blocks the piece combines.
        public let blocks: Range<Int>
        /// The byte columns of those blocks it combines (all of them but in the last pieces).
        public let columns: Range<Int>
    }

    /// Column strips of a tail piece: a quarter of its blocks' width each.
    static let tailStrips = 4

    /// The pieces a pass of `parts` parts over `numberOfBlocks` blocks of `blockSize` bytes is cut
    /// into, in the order the parts take them; together they cover every byte once.
    ///
    /// Where the kernel streams (`tileBlocks` 0: few queries, whose answers stay in the caches)
    /// the pieces are ``pieces(numberOfBlocks:blockSize:pieceBytes:)``'s ranges of blocks, which
    /// are short enough that the last one taken ends moments after the others.
    ///
    /// Where it combines `tileBlocks` blocks at a time and then adds them into every answer row
    /// (many queries), a piece of a whole number of tiles moves no more answer bytes than an uncut
    /// pass, and anything shorter moves them again (guided self-scheduling's shrinking pieces
    /// measured slower for that). So pieces are whole tiles, at least `pieceBytes` of blocks,
    /// and with hundreds of queries such a piece takes tens of milliseconds: the part that took
    /// the last one finished that much after the other (on average 5 % of a 700-query pass on
    /// two threads, measured; 0.7 % with the strips). The last `parts` pieces are therefore cut
    /// by columns instead, into ``tailStrips`` strips of whole vectors: the same blocks, a
    /// quarter of the width each, the answers' matching columns only. Each strip copies and
    /// re-orders its blocks' coefficients for the kernel again, a small cost next to the
    /// combining.
    public static func passPieces(
        numberOfBlocks: Int,
        blockSize: Int,
        tileBlocks: Int,
        pieceBytes: Int = defaultPieceBytes,
        parts: Int
    ) -> [Piece] {
        let columns = 0..<blockSize
        guard tileBlocks > 0 else {
            return pieces(numberOfBlocks: numberOfBlocks, blockSize: blockSize, pieceBytes: pieceBytes).map {
                Piece(blocks: $0, columns: columns)
            }
        }
        let tilesPerPiece = max(1, (pieceBytes / max(1, blockSize) + tileBlocks - 1) / tileBlocks)
        let blocksPerPiece = tilesPerPiece * tileBlocks
        let rows = stride(from: 0, to: numberOfBlocks, by: blocksPerPiece).map {
            $0..<min($0 + blocksPerPiece, numberOfBlocks)
        }
        // Strips of whole 64-byte vectors, so only the last strip of a block has a partial one.
        let stripWidth = (blockSize / tailStrips + 63) / 64 * 64
        let cutCount = parts > 1 && stripWidth < blockSize ? min(parts, rows.count) : 0
        var result = rows.dropLast(cutCount).map { Piece(blocks: $0, columns: columns) }
        for row in rows.suffix(cutCount) {
            for start in stride(from: 0, to: blockSize, by: stripWidth) {
                result.append(Piece(blocks: row, columns: start..<min(start + stripWidth, blockSize)))
            }
        }
        return result
    }

    /// Contiguous ranges of about `pieceBytes` of `numberOfBlocks` blocks of `blockSize` bytes,
    /// each a whole number of the few-queries kernel's eight-block tiles (but the last),
    /// covering every block once, in order: the pieces of a pass whose kernel streams.
    public static func pieces(numberOfBlocks: Int, blockSize: Int, pieceBytes: Int = defaultPieceBytes) -> [Range<Int>]
    {
        let tile = 8
        let blocksPerPiece = max(tile, pieceBytes / max(1, blockSize) / tile * tile)
        return stride(from: 0, to: numberOfBlocks, by: blocksPerPiece).map {
            $0..<min($0 + blocksPerPiece, numberOfBlocks)
        }
    }

    /// The whole-width answers of `queries` queries over `blocks` alone, query-major: the sum over
    /// every part's blocks is the answer over the database.
    private func answerBlocks(
        _ coefficients: ArraySlice<UInt8>,
        queries: Int,
        database: PIRDatabase,
        blocks: Range<Int>
    ) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: queries * database.blockSize)
        guard queries > 0, database.blockSize > 0, !blocks.isEmpty else { return output }
        var own: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: blocks.count * queries)
        accumulate(
            coefficients,
            queries: queries,
            database: database,
            blocks: blocks,
            columns: 0..<database.blockSize,
            into: &output,
            own: &own,
            scratch: &scratch
        )
        return output
    }

    /// One part of a multi-part pass: takes pieces from `cursor` until none is left, adding each
    /// into one whole-width answer. Returns that answer, or nothing if no piece was left for it.
    private func answerPieces(
        _ coefficients: ArraySlice<UInt8>,
        queries: Int,
        database: PIRDatabase,
        pieces: [Piece],
        cursor: PieceCursor
    ) -> [UInt8] {
        guard queries > 0, database.blockSize > 0 else { return [] }
        var piece = cursor.take()
        guard piece < pieces.count else { return [] }
        // Allocated once per part, not per piece.
        let largest = pieces.map(\.blocks.count).max() ?? 0
        var output = [UInt8](repeating: 0, count: queries * database.blockSize)
        var own = [UInt8](repeating: 0, count: queries * largest)
        var scratch = [UInt8](repeating: 0, count: queries * largest)
        while piece < pieces.count {
            accumulate(
                coefficients,
                queries: queries,
                database: database,
                blocks: pieces[piece].blocks,
                columns: pieces[piece].columns,
                into: &output,
                own: &own,
                scratch: &scratch
            )
            piece = cursor.take()
        }
        return output
    }

    /// Adds the answers of `queries` queries over `columns` of `blocks` into the same columns of
    /// `output` (query-major, whole width). `own` receives this range's coefficients when
    /// `blocks` is not the whole database; `scratch` holds at least `blocks.count · queries` bytes.
    private func accumulate(
        _ coefficients: ArraySlice<UInt8>,
        queries: Int,
        database: PIRDatabase,
        blocks: Range<Int>,
        columns: Range<Int>,
        into output: inout [UInt8],
        own: inout [UInt8],
        scratch: inout [UInt8]
    ) {
        let total = database.numberOfBlocks
        let blockSize = database.blockSize
        precondition(scratch.count >= blocks.count * queries)
        let whole = blocks.count == total
        let first = coefficients.startIndex
        if !whole {
            // This range's coefficients, query-major over its blocks.
            if own.count < queries * blocks.count { own = [UInt8](repeating: 0, count: queries * blocks.count) }
            for query in 0..<queries {
                own.replaceSubrange(
                    (query * blocks.count)..<((query + 1) * blocks.count),
                    with: coefficients[
                        (first + query * total + blocks.lowerBound)..<(first + query * total + blocks.upperBound)
                    ]
                )
            }
        }
        database.bytes.withUnsafeBytes { raw in
            (whole ? coefficients : own[...]).withUnsafeBufferPointer { own in
                output.withUnsafeMutableBufferPointer { output in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        let status = cgf256_answer(
                            kernel.cKernel,
                            raw.bindMemory(to: UInt8.self).baseAddress! + blocks.lowerBound * blockSize,
                            blocks.count,
                            blockSize,
                            own.baseAddress,
                            queries,
                            output.baseAddress! + columns.lowerBound,
                            blockSize,
                            columns.lowerBound,
                            columns.upperBound,
                            scratch.baseAddress
                        )
                        precondition(status == 0, "PIR kernel \(kernel) failed")
                    }
                }
            }
        }
    }

    /// Adds (XORs) `part` into `sum`, eight bytes at a time.
    private static func add(_ part: [UInt8], into sum: inout [UInt8]) {
        precondition(part.count == sum.count)
        part.withUnsafeBytes { part in
            sum.withUnsafeMutableBytes { sum in
                let words = sum.count / 8
                for index in 0..<words {
                    let value =
                        part.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                        ^ sum.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
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

/// The next piece of a multi-part pass to take: the parts of one pass share it.
private final class PieceCursor: Sendable {
    private let next = Atomic<Int>(0)

    /// The index of a piece no other part has taken (past the last piece once all are taken).
    func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
}
