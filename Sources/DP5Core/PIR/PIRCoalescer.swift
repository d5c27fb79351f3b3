/// Coalesces the PIR requests of concurrent clients into shared passes over one database.
///
/// Every query costs a pass over the whole database, and a pass costs nearly the same for one
/// query as for dozens (they share each read). So a request that finds the coalescer idle runs a
/// pass at once; requests that arrive meanwhile wait for it to finish and then go together in
/// the next pass, led by the first of them. A lone request is never delayed, and a waiting one
/// waits at most one pass. The work always runs in a requester's own task.
public actor PIRCoalescer {
    /// The database answered from.
    public nonisolated let database: PIRDatabase
    /// The engine each pass runs on.
    public nonisolated let engine: PIREngine
    /// The most queries one pass takes; more wait for the next.
    public nonisolated let maximumQueriesPerPass: Int

    private enum Outcome: Sendable {
        case answered([UInt8])
        case lead
    }

    private struct Waiter {
        let batch: PIRQueryBatch
        let continuation: CheckedContinuation<Outcome, Never>
    }

    private var waiting: [Waiter] = []
    private var passRunning = false
    /// Passes run so far, and queries answered: for status reports and tests.
    public private(set) var passes = 0
    public private(set) var queriesAnswered = 0
    /// Told of every pass: its queries and how long it took (the server's metrics).
    private let onPass: (@Sendable (_ queries: Int, _ duration: Duration) -> Void)?

    /// Creates a coalescer.
    public init(
        database: PIRDatabase,
        engine: PIREngine,
        maximumQueriesPerPass: Int = 1000,
        onPass: (@Sendable (_ queries: Int, _ duration: Duration) -> Void)? = nil
    ) {
        self.database = database
        self.engine = engine
        self.maximumQueriesPerPass = max(1, maximumQueriesPerPass)
        self.onPass = onPass
    }

    /// Answers `batch`, sharing a pass with whatever other requests are waiting.
    public func answer(_ batch: PIRQueryBatch) async -> [UInt8] {
        precondition(batch.numberOfBlocks == database.numberOfBlocks, "query and database disagree on the block count")
        if passRunning {
            let outcome = await withCheckedContinuation { waiting.append(Waiter(batch: batch, continuation: $0)) }
            if case .answered(let answer) = outcome { return answer }
        }
        // Leading: this request's batch goes first, with as many waiting ones as fit.
        passRunning = true
        var group = [batch]
        var followers: [Waiter] = []
        var queries = batch.numberOfQueries
        while let next = waiting.first, queries + next.batch.numberOfQueries <= maximumQueriesPerPass {
            followers.append(waiting.removeFirst())
            queries += next.batch.numberOfQueries
            group.append(next.batch)
        }
        let start = ContinuousClock.now
        let answers = await engine.answer(group, database: database)
        onPass?(queries, ContinuousClock.now - start)
        passes += 1
        queriesAnswered += queries
        for (follower, answer) in zip(followers, answers.dropFirst()) {
            follower.continuation.resume(returning: .answered(answer))
        }
        if waiting.isEmpty {
            passRunning = false
        } else {
            waiting.removeFirst().continuation.resume(returning: .lead)
        }
        return answers[0]
    }
}
