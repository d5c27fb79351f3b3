/// What a client knows of one of its leases.
public enum LeaseState: Sendable, Hashable {
    /// Requested; no grant yet.
    case pending
    /// Granted for this many seconds; renewal comes before they run out.
    case active(grantedSeconds: Int)
    /// A renewal (or, after a reconnection, a fresh request) is out; events still flow.
    case renewing
    /// Given up: the server refused it or never answered after every retry. Terminal.
    case lost(reason: String)
    /// Released by its holder. Terminal.
    case released

    /// Whether the lease is granted as far as the client knows (the original's `getLeaseActive`).
    public var isActive: Bool {
        switch self {
        case .active, .renewing: return true
        default: return false
        }
    }

    /// Whether the lease is finished.
    public var isFinal: Bool {
        switch self {
        case .lost, .released: return true
        default: return false
        }
    }
}

/// The timing of lease requests and renewals (jClient's `SimpleLeaseManager` parameters).
public struct LeaseTiming: Sendable, Hashable {
    /// Requests re-sent without an answer before the lease counts as lost
    /// (`/jClient/SimpleLeaseManager/MaximumRetries`, 10).
    public var maximumRetries: Int = 10
    /// How long to wait for a grant (`ShortTimeoutAbsolute`, 20 s).
    public var answerTimeout: Duration = .seconds(20)
    /// Share of the granted time after which to renew (`LongTimeoutPercent`, 80 %).
    public var renewFraction: Double = 0.8
    /// Length asked for (`DefaultLeaseDuration`, 3600 s).
    public var defaultDurationSeconds: Int = 3600

    /// The defaults.
    public init() {}
}

/// One lease's request/grant/renew cycle (spec §4.5.5), as a pure state machine driven by the
/// client: inputs are the times and messages, outputs what to send and the state to report.
///
/// Unlike the original, a renewal that is never answered counts its retries like a first request
/// and then reports the lease lost instead of keeping it "active" for ever.
struct LeaseMachine {
    enum Output: Equatable {
        /// Send a `register` (request or renewal, same identifier).
        case sendRegister
        /// Send an `unregister`.
        case sendUnregister
    }

    private(set) var state: LeaseState = .pending
    /// When the current timer runs out (client clock), if one is armed.
    private(set) var deadline: Duration?
    private var retriesLeft: Int
    let timing: LeaseTiming

    init(timing: LeaseTiming) {
        self.timing = timing
        self.retriesLeft = timing.maximumRetries
    }

    /// Starts the lease at `now`: the first request.
    mutating func start(now: Duration) -> [Output] {
        state = .pending
        deadline = now + timing.answerTimeout
        return [.sendRegister]
    }

    /// A grant of `seconds` arrived.
    mutating func granted(seconds: Int, now: Duration) {
        guard !state.isFinal else { return }
        state = .active(grantedSeconds: seconds)
        retriesLeft = timing.maximumRetries
        let renewal = Duration.seconds(Double(seconds) * timing.renewFraction)
        deadline = now + max(renewal, .milliseconds(10))
    }

    /// The server refused the lease.
    mutating func refused(reason: String) {
        guard !state.isFinal else { return }
        state = .lost(reason: "refused by the server: \(reason)")
        deadline = nil
    }

    /// Time passed: acts if the timer ran out by `now`.
    mutating func tick(now: Duration) -> [Output] {
        guard let deadline, now >= deadline else { return [] }
        switch state {
        case .active:
            state = .renewing
            self.deadline = now + timing.answerTimeout
            return [.sendRegister]
        case .pending, .renewing:
            guard retriesLeft > 0 else {
                state = .lost(reason: "no grant after \(timing.maximumRetries) retries")
                self.deadline = nil
                return [.sendUnregister]
            }
            retriesLeft -= 1
            self.deadline = now + timing.answerTimeout
            return [.sendRegister]
        case .lost, .released:
            self.deadline = nil
            return []
        }
    }

    /// A new connection: the server has forgotten the lease, so ask again with the same
    /// identifier (the original's `forceRenegotiation`).
    mutating func reconnected(now: Duration) -> [Output] {
        guard !state.isFinal else { return [] }
        if case .pending = state {} else { state = .renewing }
        retriesLeft = timing.maximumRetries
        deadline = now + timing.answerTimeout
        return [.sendRegister]
    }

    /// The holder gives the lease up.
    mutating func release() -> [Output] {
        guard !state.isFinal else { return [] }
        state = .released
        deadline = nil
        return [.sendUnregister]
    }
}
