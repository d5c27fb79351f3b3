public import DP5Core
import Synchronization

/// An epoch clock tests move by hand; it starts stopped at 2015-01-01T00:00:00Z, so epochs move
/// only when a test says.
public final class ManualEpochClock: EpochClock {
    /// 2015-01-01T00:00:00Z.
    public static let start: Double = 1_420_070_400

    private let seconds: Mutex<Double>

    public init(_ seconds: Double = ManualEpochClock.start) { self.seconds = Mutex(seconds) }

    public func secondsSince1970() -> Double { seconds.withLock { $0 } }

    public func advance(by delta: Double) { seconds.withLock { $0 += delta } }
}
