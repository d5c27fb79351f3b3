import Foundation

/// The lookup server's half of IT-PIR: multiply the database by each query vector.
///
/// For query `q` the answer is `R_q[w] = ⊕_j q_j · D[j][w]` over GF(2^8), for every byte `w` of a
/// block. The reply to a batch is `R_0 ‖ R_1 ‖ …`, `numberOfQueries · blockSize` bytes, exactly
/// what Percy++ sends.
public enum PIRServer {
    /// Bytes of accumulators kept hot while a pass streams the database. Each database line is
    /// read once per pass for all queries of the batch; the column tile keeps the accumulators
    /// of all queries within the second-level cache.
    static let accumulatorBudget = 256 * 1024

    /// Answers every query of `batch` in one pass over `database`.
    ///
    /// - Precondition: `batch.numberOfBlocks == database.numberOfBlocks`.
    public static func answer(_ batch: PIRQueryBatch, database: PIRDatabase) -> [UInt8] {
        precondition(batch.numberOfBlocks == database.numberOfBlocks, "query and database disagree on the block count")
        let blockSize = database.blockSize
        let queries = batch.numberOfQueries
        var answer = [UInt8](repeating: 0, count: queries * blockSize)
        guard queries > 0, blockSize > 0 else { return answer }
        let tile = max(64, min(blockSize, accumulatorBudget / queries))
        database.bytes.withUnsafeBytes { raw in
            let base = raw.bindMemory(to: UInt8.self).baseAddress!
            batch.coefficients.withUnsafeBufferPointer { coefficients in
                answer.withUnsafeMutableBufferPointer { output in
                    for columnStart in stride(from: 0, to: blockSize, by: tile) {
                        let width = min(tile, blockSize - columnStart)
                        for block in 0..<database.numberOfBlocks {
                            let source = base + block * blockSize + columnStart
                            for query in 0..<queries {
                                GF256Kernel.multiplyAccumulate(
                                    coefficients[query * batch.numberOfBlocks + block],
                                    source: source,
                                    into: output.baseAddress! + query * blockSize + columnStart,
                                    count: width
                                )
                            }
                        }
                    }
                }
            }
        }
        return answer
    }
}
