import Foundation
import Testing

@testable import DP5Core

/// SplitMix64: a small seeded generator so every property run is reproducible from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("IT-PIR properties")
struct PIRPropertyTests {
    enum Role: CaseIterable { case honest, liar, silent, truncated }

    /// For random databases and random mixes of honest, lying, silent and truncating servers, a
    /// lookup returns exactly the requested blocks and names exactly the bad servers whenever the
    /// honest answers outnumber the lying ones by more than t; otherwise it throws, except with
    /// exactly t + 1 well-formed answers, where nothing can check a liar and the result says so.
    @Test(arguments: 0..<8)
    func decodingSucceedsExactlyWhenPossible(seedBlock: Int) throws {
        var generator = SeededGenerator(seed: UInt64(seedBlock) &* 7919 &+ 1)
        for _ in 0..<40 {
            let servers = Int.random(in: 2...7, using: &generator)
            let t = Int.random(in: 1..<servers, using: &generator)
            let blocks = Int.random(in: 1...30, using: &generator)
            let blockSize = Int.random(in: 8...40, using: &generator)
            let data = (0..<(blocks * blockSize)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let database = try PIRDatabase(numberOfBlocks: blocks, blockSize: blockSize, bytes: Data(data))
            let wanted = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                Int.random(in: 0..<blocks, using: &generator)
            }
            let query = PIRQuery(
                blocks: wanted,
                numberOfBlocks: blocks,
                blockSize: blockSize,
                parameters: try LookupParameters(numberOfServers: servers, privacyLevel: t),
                using: &generator
            )
            let roles = (0..<servers).map { _ in Role.allCases.randomElement(using: &generator)! }
            let replies: [[UInt8]?] = try zip(roles, query.serverQueries).map { role, wire in
                let answer = PIRServer.answer(
                    try PIRQueryBatch(percyWire: wire[...], numberOfBlocks: blocks),
                    database: database
                )
                switch role {
                case .honest: return answer
                case .liar: return answer.map { _ in UInt8.random(in: 0...255, using: &generator) }
                case .silent: return nil
                case .truncated: return Array(answer.dropLast())
                }
            }
            let honest = roles.filter { $0 == .honest }.count
            let liars = roles.filter { $0 == .liar }.count
            let context = "servers \(servers) t \(t) roles \(roles)"
            if honest > liars + t {
                let decoded = try query.decode(replies: replies)
                #expect(
                    decoded.blocks == wanted.map { Array(data[($0 * blockSize)..<(($0 + 1) * blockSize)]) },
                    "\(context)"
                )
                let bad = roles.indices.filter { roles[$0] == .liar || roles[$0] == .truncated }
                #expect(decoded.faultyServers == bad, "\(context)")
                #expect(decoded.isVerified == (honest > t + 1), "\(context)")
            } else if honest + liars == t + 1 {
                let decoded = try query.decode(replies: replies)
                #expect(!decoded.isVerified, "\(context)")
            } else {
                #expect(throws: DP5Error.self, "\(context)") { try query.decode(replies: replies) }
            }
        }
    }

    @Test func kernelMatchesFieldMultiplication() {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<200 {
            let count = Int.random(in: 0...100, using: &generator)
            let offset = Int.random(in: 0...7, using: &generator)
            let coefficient = UInt8.random(in: 0...255, using: &generator)
            let source = (0..<(count + offset)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let original = (0..<(count + offset)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var destination = original
            source.withUnsafeBufferPointer { src in
                destination.withUnsafeMutableBufferPointer { dst in
                    GF256Kernel.multiplyAccumulate(
                        coefficient,
                        source: src.baseAddress! + offset,
                        into: dst.baseAddress! + offset,
                        count: count
                    )
                }
            }
            let expected = original.indices.map {
                $0 < offset ? original[$0] : original[$0] ^ GF256.multiply(coefficient, source[$0])
            }
            #expect(destination == expected)
        }
    }

    @Test func answerOfAnEmptyBatchOrDatabase() throws {
        let empty = try PIRDatabase(numberOfBlocks: 0, blockSize: 0, bytes: Data())
        #expect(PIRServer.answer(PIRQueryBatch(numberOfBlocks: 0, coefficients: []), database: empty).isEmpty)
        let database = try PIRDatabase(numberOfBlocks: 3, blockSize: 4, bytes: Data(repeating: 9, count: 12))
        #expect(PIRServer.answer(PIRQueryBatch(numberOfBlocks: 3, coefficients: []), database: database).isEmpty)
        #expect(throws: DP5Error.self) { try PIRDatabase(numberOfBlocks: 3, blockSize: 4, bytes: Data(count: 11)) }
    }

    @Test func batchAnswersEqualSingleAnswers() throws {
        var generator = SeededGenerator(seed: 7)
        // Wide blocks and many queries, so the column tiling of a pass is exercised.
        let blocks = 5
        let blockSize = 70_000
        let queries = 9
        let data = Data((0..<(blocks * blockSize)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let database = try PIRDatabase(numberOfBlocks: blocks, blockSize: blockSize, bytes: data)
        let coefficients = (0..<(queries * blocks)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let batch = PIRServer.answer(
            PIRQueryBatch(numberOfBlocks: blocks, coefficients: coefficients),
            database: database
        )
        for query in 0..<queries {
            let single = PIRServer.answer(
                PIRQueryBatch(
                    numberOfBlocks: blocks,
                    coefficients: Array(coefficients[(query * blocks)..<((query + 1) * blocks)])
                ),
                database: database
            )
            #expect(Array(batch[(query * blockSize)..<((query + 1) * blockSize)]) == single)
        }
    }

    @Test func queryWireParsingRejectsBadBodies() throws {
        #expect(throws: DP5Error.self) { try PIRQueryBatch(percyWire: [1][...], numberOfBlocks: 3) }
        #expect(throws: DP5Error.self) { try PIRQueryBatch(percyWire: [1, 0, 1, 2][...], numberOfBlocks: 3) }
        #expect(throws: DP5Error.self) { try PIRQueryBatch(percyWire: [1, 0, 1, 2, 3, 4][...], numberOfBlocks: 3) }
        #expect(throws: DP5Error.self) { try PIRQueryBatch(percyWire: [1, 0][...], numberOfBlocks: 0) }
        let batch = try PIRQueryBatch(percyWire: [2, 0, 1, 2, 3, 4, 5, 6][...], numberOfBlocks: 3)
        #expect(batch.numberOfQueries == 2 && batch.percyWire == [2, 0, 1, 2, 3, 4, 5, 6])
        #expect(try PIRQueryBatch(percyWire: [0, 0][...], numberOfBlocks: 3).numberOfQueries == 0)
    }

    @Test func subsetsAreAllCombinations() {
        #expect(PIRQuery.subsets(of: [4, 5, 6, 7], size: 2) == [[4, 5], [4, 6], [4, 7], [5, 6], [5, 7], [6, 7]])
        #expect(PIRQuery.subsets(of: [1], size: 2).isEmpty)
        #expect(PIRQuery.subsets(of: Array(0..<40), size: 20, limit: 10).count == 10)
    }
}
