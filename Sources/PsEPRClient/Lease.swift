public import PsEPRCore
import Synchronization

/// A subscription held by an ``EventClient``: the events on its channel (and below) that match
/// its namespace filter, and its state as it is granted, renewed, lost or released.
///
/// The client renews it by itself and re-requests it after every reconnection with the same
/// identifier. A lease that cannot be renewed ends as ``LeaseState/lost(reason:)`` and its
/// streams finish; it never stays "active" when it is not.
public final class Lease: Sendable {
    /// The identifier the server knows it by.
    public let identifier: String
    /// The leased channel; events on it and below it arrive.
    public let channel: ChannelName
    /// The payload namespace the lease is limited to (`nil`: any).
    public let namespaceFilter: String?
    /// The length requested, seconds.
    public let requestedSeconds: Int
    /// Matching events, newest kept when the consumer falls behind (the buffer holds
    /// ``EventClient/Options/eventBufferSize`` events). Finishes when the lease ends.
    public let events: AsyncStream<Event>
    /// Each state change, in order. Finishes when the lease ends.
    public let states: AsyncStream<LeaseState>

    private let eventSink: AsyncStream<Event>.Continuation
    private let stateSink: AsyncStream<LeaseState>.Continuation
    private let current = Mutex<Current>(Current())
    private let client: EventClient

    private struct Current {
        var state = LeaseState.pending
        var waiters: [Int: CheckedContinuation<LeaseState, Never>] = [:]
        var nextWaiter = 0
    }

    init(
        identifier: String,
        channel: ChannelName,
        namespaceFilter: String?,
        requestedSeconds: Int,
        bufferSize: Int,
        client: EventClient
    ) {
        self.identifier = identifier
        self.channel = channel
        self.namespaceFilter = namespaceFilter
        self.requestedSeconds = requestedSeconds
        self.client = client
        (events, eventSink) = AsyncStream.makeStream(
            of: Event.self,
            bufferingPolicy: .bufferingNewest(max(1, bufferSize))
        )
        (states, stateSink) = AsyncStream.makeStream(of: LeaseState.self, bufferingPolicy: .bufferingNewest(64))
    }

    /// The state now.
    public var state: LeaseState { current.withLock { $0.state } }

    /// Waits until the lease is no longer pending (granted, lost or released) and returns that state.
    public func settled() async -> LeaseState {
        let key = current.withLock { current -> Int? in
            guard current.state == .pending else { return nil }
            current.nextWaiter += 1
            return current.nextWaiter
        }
        guard let key else { return state }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = current.withLock { current -> LeaseState? in
                    guard current.state == .pending, !Task.isCancelled else { return current.state }
                    current.waiters[key] = continuation
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let waiter = current.withLock { current in
                current.waiters.removeValue(forKey: key).map { ($0, current.state) }
            }
            if let (continuation, state) = waiter { continuation.resume(returning: state) }
        }
    }

    /// Gives the lease up: the server is told, and the streams finish.
    public func release() async {
        await client.release(self)
    }

    /// Whether `event` belongs to this lease: on its channel or below, in its namespace.
    func matches(_ event: Event) -> Bool {
        guard channel.covers(event.channel) else { return false }
        guard let namespaceFilter else { return true }
        return event.payloadNamespace?.lowercased() == namespaceFilter.lowercased()
    }

    func deliver(_ event: Event) { eventSink.yield(event) }

    /// Records a new state: reports it, wakes waiters, and finishes the streams when final.
    func update(_ state: LeaseState) {
        let waiters = current.withLock { current -> [CheckedContinuation<LeaseState, Never>]? in
            guard current.state != state else { return nil }
            current.state = state
            guard state != .pending else { return [] }
            defer { current.waiters = [:] }
            return Array(current.waiters.values)
        }
        guard let waiters else { return }
        stateSink.yield(state)
        for waiter in waiters { waiter.resume(returning: state) }
        if state.isFinal {
            stateSink.finish()
            eventSink.finish()
        }
    }
}
