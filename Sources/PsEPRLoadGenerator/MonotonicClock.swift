import Glibc

/// Nanoseconds on the monotonic clock; publishers stamp events with it and subscribers, in the
/// same process, subtract it on arrival. A C call rather than `ContinuousClock`, whose instants
/// cannot be written into an event as 19 digits.
public func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
