/// How long to wait before the next attempt to reach a server or peer: doubling from `initial`
/// after each consecutive failure up to `maximum`, then scaled by a random factor in 0.5…1 so
/// that clients cut off together do not come back together. The one formula the client's
/// reconnection and the mesh's dialling share.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(maximum, initial)
    }

    /// The longest pause after `failures` consecutive failures (at least one), before jitter.
    public func ceiling(after failures: Int) -> Duration {
        let exponent = min(max(failures, 1) - 1, 30)
        return min(initial * (1 << exponent), maximum)
    }

    /// The pause after `failures` consecutive failures.
    public func pause<Generator: RandomNumberGenerator>(
        after failures: Int,
        using generator: inout Generator
    ) -> Duration {
        ceiling(after: failures) * Double.random(in: 0.5...1.0, using: &generator)
    }

    /// The pause after `failures` consecutive failures, with the system's random numbers.
    public func pause(after failures: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return pause(after: failures, using: &generator)
    }
}
