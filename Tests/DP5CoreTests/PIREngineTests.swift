import Foundation
import Testing

@testable import DP5Core

@Suite("PIR kernels and engine")
struct PIREngineTests {
    /// The definition, one byte at a time: every kernel must give exactly this.
    static func reference(_ batch: PIRQueryBatch, _ database: PIRDatabase) -> [UInt8] {
        let bytes = [UInt8](database.bytes)
        var answer = [UInt8](repeating: 0, count: batch.numberOfQueries * database.blockSize)
        let coefficients = batch.coefficients
        for query in 0..<batch.numberOfQueries {
            for block in 0..<database.numberOfBlocks {
                let coefficient = coefficients[query * batch.numberOfBlocks + block]
                for column in 0..<database.blockSize {
                    answer[query * database.blockSize + column] ^= GF256.multiply(
                        coefficient,
                        bytes[block * database.blockSize + column]
                    )
                }
            }
        }
        return answer
    }

    /// A database whose bytes start `offset` bytes into their storage, so kernels see unaligned rows.
    static func database(
        blocks: Int,
        blockSize: Int,
        offset: Int,
        using generator: inout SeededGenerator
    ) throws -> PIRDatabase {
        let storage = Data(
            (0..<(blocks * blockSize + offset)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        )
        return try PIRDatabase(numberOfBlocks: blocks, blockSize: blockSize, bytes: storage[offset...])
    }

    @Test(arguments: PIREngine.Kernel.available)
    func everyKernelMatchesTheDefinition(kernel: PIREngine.Kernel) throws {
        var generator = SeededGenerator(seed: UInt64(kernel.rawValue) + 100)
        // Odd sizes on purpose: tails shorter than a vector, single columns, and query counts on
        // both sides of the streaming and register-blocked paths.
        // The few-queries kernels (up to 8 or 16 queries) take eight-block tiles: whole ones,
        // a partial last one, and databases smaller than one.
        for (blocks, blockSize, queries) in [
            (1, 1, 1), (3, 17, 2), (7, 63, 3), (5, 64, 4), (9, 65, 8), (11, 130, 9), (600, 200, 13), (50, 300, 17),
            (2, 1000, 1), (33, 652, 100), (7, 129, 30),
            (24, 64, 1), (17, 333, 5), (16, 100, 16), (40, 97, 7), (23, 257, 12),
        ] {
            let database = try Self.database(
                blocks: blocks,
                blockSize: blockSize,
                offset: Int.random(in: 0...7, using: &generator),
                using: &generator
            )
            var coefficients = (0..<(queries * blocks)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            coefficients[0] = 0
            let batch = PIRQueryBatch(numberOfBlocks: blocks, coefficients: coefficients)
            #expect(
                PIREngine(kernel: kernel).answer(batch, database: database) == Self.reference(batch, database),
                "\(kernel) \(blocks)×\(blockSize), \(queries) queries"
            )
        }
    }

    @Test(arguments: PIREngine.Kernel.available)
    func emptyInputs(kernel: PIREngine.Kernel) throws {
        let engine = PIREngine(kernel: kernel)
        let empty = try PIRDatabase(numberOfBlocks: 0, blockSize: 0, bytes: Data())
        #expect(engine.answer(PIRQueryBatch(numberOfBlocks: 0, coefficients: []), database: empty).isEmpty)
        let database = try PIRDatabase(numberOfBlocks: 4, blockSize: 0, bytes: Data())
        #expect(
            engine.answer(PIRQueryBatch(numberOfBlocks: 4, coefficients: [1, 2, 3, 4]), database: database).isEmpty
        )
        let some = try PIRDatabase(numberOfBlocks: 2, blockSize: 3, bytes: Data([1, 2, 3, 4, 5, 6]))
        #expect(engine.answer(PIRQueryBatch(numberOfBlocks: 2, coefficients: []), database: some).isEmpty)
    }

    @Test func threadedPassesEqualSinglePasses() async throws {
        var generator = SeededGenerator(seed: 9)
        let database = try Self.database(blocks: 200, blockSize: 101, offset: 3, using: &generator)
        let batches = (1...4).map { count in
            PIRQueryBatch(
                numberOfBlocks: 200,
                coefficients: (0..<(count * 200)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            )
        }
        let expected = batches.map { Self.reference($0, database) }
        // One piece (the default size), and pieces of 8 to 40 buckets (as the query count and the
        // threads make them grow): the parts take them in turn.
        for pieceBytes in [PIREngine.defaultPieceBytes, 8 * 101, 1] {
            for threads in [1, 2, 3, 16] {
                let engine = PIREngine(threads: threads, minimumPartBytes: 0, pieceBytes: pieceBytes)
                #expect(
                    await engine.answer(batches, database: database) == expected,
                    "\(threads) threads, pieces of \(pieceBytes) bytes"
                )
                #expect(
                    await engine.answer([batches[2]], database: database) == [expected[2]],
                    "one batch, \(threads) threads"
                )
            }
        }
    }

    @Test func queriesParsedFromARequestBodyAreAnsweredWhereTheyLie() async throws {
        // A server parses the queries out of the request body and answers from that slice of it,
        // which starts after the opcode, the epoch and the count.
        var generator = SeededGenerator(seed: 12)
        let database = try Self.database(blocks: 96, blockSize: 77, offset: 1, using: &generator)
        let coefficients = (0..<(3 * 96)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let body = [0xFE, 1, 2, 3, 4, 3, 0] + coefficients
        let parsed = try PIRQueryBatch(percyWire: body[5...], numberOfBlocks: 96)
        let expected = Self.reference(PIRQueryBatch(numberOfBlocks: 96, coefficients: coefficients), database)
        #expect(parsed.coefficients == coefficients)
        #expect(parsed.percyWire == Array(body[5...]))
        #expect(PIREngine().answer(parsed, database: database) == expected)
        for threads in [2, 3] {
            let engine = PIREngine(threads: threads, minimumPartBytes: 0, pieceBytes: 8 * 77)
            #expect(await engine.answer([parsed], database: database) == [expected], "\(threads) threads")
            let other = PIRQueryBatch(numberOfBlocks: 96, coefficients: Array(coefficients.reversed()))
            #expect(
                await engine.answer([other, parsed], database: database)
                    == [Self.reference(other, database), expected]
            )
        }
    }

    @Test func piecesCoverTheDatabaseInWholeTiles() {
        for (blocks, blockSize, pieceBytes) in [
            (0, 100, 1000), (1, 100, 1000), (16384, 16422, 2 << 20), (100, 1, 1 << 20), (37, 1000, 8000), (37, 1000, 1),
            (32768, 32774, 2 << 20),
        ] {
            let pieces = PIREngine.pieces(numberOfBlocks: blocks, blockSize: blockSize, pieceBytes: pieceBytes)
            #expect(pieces.map(\.count).reduce(0, +) == blocks)
            #expect(pieces.first?.lowerBound ?? 0 == 0)
            #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(
                pieces.dropLast().allSatisfy {
                    $0.count % 8 == 0 && $0.count * blockSize <= max(pieceBytes, 8 * blockSize)
                }
            )
        }
    }

    @Test func passPiecesAreWholeTilesWithTheLastOnesCutIntoColumnStrips() {
        for (blocks, blockSize, tileBlocks, pieceBytes, parts) in [
            (16384, 16422, 512, 4 << 20, 2), (1030, 200, 512, 1, 2), (1030, 200, 512, 1, 3), (100, 1000, 512, 1, 2),
            (5000, 100, 512, 4 << 20, 2), (2000, 64, 512, 1, 2), (2000, 300, 512, 1, 1), (0, 300, 512, 1, 2),
            (3000, 300, 0, 8 * 300, 2),
        ] {
            let pieces = PIREngine.passPieces(
                numberOfBlocks: blocks,
                blockSize: blockSize,
                tileBlocks: tileBlocks,
                pieceBytes: pieceBytes,
                parts: parts
            )
            let shape = "\(blocks)×\(blockSize), tiles of \(tileBlocks), \(parts) parts"
            // Every byte of the database in exactly one piece: pieces of the same blocks split
            // their columns without gaps, and the blocks follow one another.
            var covered = 0
            var nextBlock = 0
            var nextColumn = 0
            for piece in pieces {
                #expect(piece.blocks.lowerBound == nextBlock || piece.columns.lowerBound > 0, "\(shape)")
                #expect(piece.columns.lowerBound == nextColumn, "\(shape)")
                covered += piece.blocks.count * piece.columns.count
                nextColumn = piece.columns.upperBound == blockSize ? 0 : piece.columns.upperBound
                if nextColumn == 0 { nextBlock = piece.blocks.upperBound }
            }
            #expect(covered == blocks * blockSize, "\(shape)")
            #expect(nextBlock == blocks && nextColumn == 0, "\(shape)")
            guard tileBlocks > 0 else {
                #expect(pieces.allSatisfy { $0.columns == 0..<blockSize }, "streaming kernels: whole blocks")
                continue
            }
            // The fewest whole tiles that hold pieceBytes (but the last range), and column strips
            // of whole vectors only in the last `parts` block ranges, when there are several parts.
            let ranges = pieces.map(\.blocks).reduce(into: [Range<Int>]()) { if $0.last != $1 { $0.append($1) } }
            #expect(
                ranges.dropLast().allSatisfy {
                    $0.count % tileBlocks == 0 && ($0.count == tileBlocks || $0.count * blockSize >= pieceBytes)
                        && ($0.count - tileBlocks) * blockSize < pieceBytes
                },
                "\(shape)"
            )
            let cut = pieces.filter { $0.columns != 0..<blockSize }
            if parts > 1 && blockSize > 64 && !ranges.isEmpty {
                #expect(Set(cut.map(\.blocks)) == Set(ranges.suffix(parts)), "\(shape)")
                #expect(Array(pieces.suffix(cut.count)) == cut, "strips come last: \(shape)")
                #expect(cut.allSatisfy { $0.columns.lowerBound % 64 == 0 }, "\(shape)")
            } else {
                #expect(cut.isEmpty, "\(shape)")
            }
        }
    }

    @Test func manyQueryPassesOnSeveralThreadsEqualOnePass() async throws {
        // Past the few-queries kernels the pass is cut into tiles, the last ones into column
        // strips (one of them ending in a partial vector): the sum must still be the whole answer.
        var generator = SeededGenerator(seed: 13)
        let database = try Self.database(blocks: 1030, blockSize: 200, offset: 5, using: &generator)
        let batches = [25, 3].map { count in
            PIRQueryBatch(
                numberOfBlocks: 1030,
                coefficients: (0..<(count * 1030)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            )
        }
        let portable = PIREngine(kernel: .portable)
        let expected = batches.map { portable.answer($0, database: database) }
        for threads in [2, 3] {
            let engine = PIREngine(threads: threads, minimumPartBytes: 0, pieceBytes: 1)
            #expect(await engine.answer(batches, database: database) == expected, "\(threads) threads")
            #expect(await engine.answer([batches[0]], database: database) == [expected[0]], "\(threads) threads")
        }
    }

    @Test func copiedDatabasesAreAlignedForHugePages() throws {
        var generator = SeededGenerator(seed: 11)
        let bytes = Data((0..<(3 * 5000)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let database = try PIRDatabase(numberOfBlocks: 3, blockSize: 5000, copying: bytes)
        #expect(database.bytes == bytes)
        #if os(Linux)
        #expect(database.bytes.withUnsafeBytes { Int(bitPattern: $0.baseAddress) % (2 << 20) } == 0)
        #endif
        #expect(try PIRDatabase(numberOfBlocks: 0, blockSize: 0, copying: Data()).count == 0)
        #expect(throws: DP5Error.self) { try PIRDatabase(numberOfBlocks: 2, blockSize: 5000, copying: bytes) }
    }

    @Test func blockRangesCoverTheDatabaseInContiguousParts() {
        for (blocks, parts) in [(0, 2), (1, 4), (64, 2), (1000, 3), (16422, 2), (100, 16), (5, 16)] {
            let ranges = PIREngine.blockRanges(numberOfBlocks: blocks, parts: parts)
            #expect(ranges.map(\.count).reduce(0, +) == blocks)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(ranges.count <= parts)
            #expect(ranges.allSatisfy { $0.count >= blocks / parts })
        }
    }

    @Test func concurrentRequestsShareAnswersCorrectly() async throws {
        var generator = SeededGenerator(seed: 5)
        let database = try Self.database(blocks: 50, blockSize: 300, offset: 0, using: &generator)
        let coalescer = PIRCoalescer(
            database: database,
            engine: PIREngine(threads: 2, minimumPartBytes: 0),
            maximumQueriesPerPass: 7
        )
        let batches = (0..<24).map { index in
            PIRQueryBatch(
                numberOfBlocks: 50,
                coefficients: (0..<((index % 3 + 1) * 50)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            )
        }
        let answers = await withTaskGroup(of: (Int, [UInt8]).self) { group in
            for (index, batch) in batches.enumerated() { group.addTask { (index, await coalescer.answer(batch)) } }
            var answers = [[UInt8]](repeating: [], count: batches.count)
            for await (index, answer) in group { answers[index] = answer }
            return answers
        }
        #expect(answers == batches.map { Self.reference($0, database) })
        #expect(await coalescer.queriesAnswered == batches.reduce(0) { $0 + $1.numberOfQueries })
        #expect(await coalescer.passes <= batches.count)
    }
}
