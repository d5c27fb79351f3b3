/// The lookup server's half of IT-PIR: multiply the database by each query vector.
///
/// For query `q` the answer is `R_q[w] = ⊕_j q_j · D[j][w]` over GF(2^8), for every byte `w` of a
/// block. The reply to a batch is `R_0 ‖ R_1 ‖ …`, `numberOfQueries · blockSize` bytes, exactly
/// what Percy++ sends.
public enum PIRServer {
    /// Answers every query of `batch` in one pass over `database`, on the calling thread, with
    /// the fastest kernel this CPU has.
    ///
    /// - Precondition: `batch.numberOfBlocks == database.numberOfBlocks`.
    public static func answer(_ batch: PIRQueryBatch, database: PIRDatabase) -> [UInt8] {
        PIREngine().answer(batch, database: database)
    }
}
