import Synchronization

/// A value changed under a lock, and the tasks waiting for it to meet a condition: the load
/// tools wait for deliveries this way instead of polling.
public final class WatchedValue<Value: Sendable>: Sendable {
    private struct Waiter {
        let condition: @Sendable (Value) -> Bool
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var value: Value
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private let state: Mutex<State>

    public init(_ value: Value) {
        state = Mutex(State(value: value))
    }

    /// Reads the value.
    public func read<Result>(_ body: (Value) -> Result) -> Result {
        state.withLock { body($0.value) }
    }

    /// Changes the value, then wakes the waiters whose condition it now meets.
    @discardableResult
    public func update<Result>(_ body: (inout Value) -> Result) -> Result {
        let (result, woken) = state.withLock { state in
            let result = body(&state.value)
            guard !state.waiters.isEmpty else { return (result, [Waiter]()) }
            let met = state.waiters.filter { $0.value.condition(state.value) }
            for key in met.keys { state.waiters.removeValue(forKey: key) }
            return (result, Array(met.values))
        }
        for waiter in woken { waiter.continuation.resume() }
        return result
    }

    /// Returns once the value meets `condition` (at once if it does now), or when the task is
    /// cancelled.
    public func wait(until condition: @escaping @Sendable (Value) -> Bool) async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if condition(state.value) || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(condition: condition, continuation: continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
    }
}
