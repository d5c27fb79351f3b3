public import Histogram

/// What the subscribers of one run have received: deliveries, by subscriber where counted so,
/// and their latencies in nanoseconds.
public final class DeliveryTally: Sendable {
    private struct State {
        var delivered = 0
        var latencies = Histogram<UInt64>(numberOfSignificantValueDigits: .two)
        var lastDelivery: UInt64 = 0
        /// Deliveries by subscriber number, for those counted with one.
        var perSubscriber: [Int: Int] = [:]
    }

    private let state = WatchedValue(State())

    public init() {}

    /// Records one read's deliveries and the send times it carried, received at `time`.
    public func add(delivered: Int, sentAt stamps: [UInt64], receivedAt time: UInt64, subscriber: Int? = nil) {
        state.update { state in
            state.delivered += delivered
            if let subscriber { state.perSubscriber[subscriber, default: 0] += delivered }
            for sent in stamps where sent <= time { _ = state.latencies.record(max(time - sent, 1)) }
            state.lastDelivery = max(state.lastDelivery, time)
        }
    }

    public var delivered: Int { state.read { $0.delivered } }
    public var perSubscriber: [Int: Int] { state.read { $0.perSubscriber } }
    public var latencies: Histogram<UInt64> { state.read { $0.latencies } }
    public var lastDelivery: UInt64 { state.read { $0.lastDelivery } }

    /// The delivery latency below which `percent` of the samples fall, in milliseconds; nil
    /// before any sample.
    public func latencyMilliseconds(atPercentile percent: Double) -> Double? {
        let latencies = self.latencies
        guard latencies.totalCount > 0 else { return nil }
        return Double(latencies.valueAtPercentile(percent)) / 1e6
    }

    /// Waits until `expected` deliveries have been counted, or until none has come for
    /// `quietSeconds` on `clock` (the rest were dropped).
    public func waitForDeliveries(
        _ expected: Int,
        quietSeconds: Double = 2,
        clock: any Clock<Duration> = ContinuousClock()
    ) async throws {
        while true {
            let seen = delivered
            if seen >= expected { return }
            let progressed = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await self.state.wait { $0.delivered != seen }
                    return !Task.isCancelled
                }
                group.addTask {
                    try? await clock.sleep(for: .seconds(quietSeconds))
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            try Task.checkCancellation()
            if !progressed { return }
        }
    }
}
