import Synchronization

/// Folds the results of the parts of one pass as they finish, on the threads that ran them, and
/// hands the sum to the waiting task once: the task wakes once per pass, not once per part.
///
/// Each finished part folds in whatever result is waiting; a result that finds none waiting is
/// left for the next part to finish, unless it is the last one standing, the sum.
public final class PIRPartFold: Sendable {
    private struct State {
        /// A result waiting to be folded into another.
        var waiting: [UInt8]?
        /// Results not yet folded into another, the unfinished parts' included.
        var standing: Int
    }

    private let state: Mutex<State>
    private let fold: @Sendable (inout [UInt8], [UInt8]) -> Void
    private let continuation: CheckedContinuation<[UInt8], Never>

    /// Expects `parts` results; resumes `continuation` with their sum.
    public init(
        parts: Int,
        fold: @escaping @Sendable (inout [UInt8], [UInt8]) -> Void,
        continuation: CheckedContinuation<[UInt8], Never>
    ) {
        state = Mutex(State(waiting: nil, standing: max(1, parts)))
        self.fold = fold
        self.continuation = continuation
    }

    private enum Step {
        case leftWaiting
        case whole
        case fold([UInt8])
    }

    /// One part's result.
    public func deliver(_ result: [UInt8]) {
        var sum = result
        while true {
            // Decided under the lock, so exactly one part finds itself the last one standing.
            let step: Step = state.withLock { state in
                if let waiting = state.waiting {
                    state.waiting = nil
                    state.standing -= 1
                    return .fold(waiting)
                }
                guard state.standing == 1 else {
                    state.waiting = sum
                    return .leftWaiting
                }
                return .whole
            }
            switch step {
            case .leftWaiting:
                return
            case .whole:
                continuation.resume(returning: sum)
                return
            case .fold(let other):
                // Outside the lock: a part finishing meanwhile leaves its result waiting.
                fold(&sum, other)
            }
        }
    }
}
