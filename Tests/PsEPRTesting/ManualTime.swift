import Synchronization

/// A time source tests move by hand, for lease expiry and write deadlines.
public final class ManualTime: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    public init() {}
    public var now: ContinuousClock.Instant { instant.withLock { $0 } }
    public func advance(seconds: Int) { instant.withLock { $0 = $0.advanced(by: .seconds(seconds)) } }
}
