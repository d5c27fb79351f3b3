import NIOCore
import Synchronization

/// One connection's outbound stanzas: bounded, never blocking the router.
///
/// The router enqueues and moves on; the connection's writer drains. When the queue is full the
/// newest stanza is dropped and counted, so one slow subscriber never slows the others; a
/// subscriber that keeps the queue full for ``disconnectAfterDrops`` consecutive stanzas is
/// disconnected (``isOverrun``).
final class OutboundQueue: Sendable {
    private struct State {
        var dropped = 0
        var droppedInARow = 0
        var overrun = false
    }

    let stream: AsyncStream<ByteBuffer>
    private let continuation: AsyncStream<ByteBuffer>.Continuation
    private let state = Mutex(State())
    private let disconnectAfterDrops: Int

    init(capacity: Int, disconnectAfterDrops: Int) {
        (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
        self.disconnectAfterDrops = max(1, disconnectAfterDrops)
    }

    /// Queues `stanza`; returns false if it was dropped.
    @discardableResult
    func enqueue(_ stanza: ByteBuffer) -> Bool {
        switch continuation.yield(stanza) {
        case .enqueued:
            state.withLock { $0.droppedInARow = 0 }
            return true
        case .dropped:
            let overrun = state.withLock { state -> Bool in
                state.dropped += 1
                state.droppedInARow += 1
                if state.droppedInARow >= disconnectAfterDrops { state.overrun = true }
                return state.overrun
            }
            if overrun { continuation.finish() }
            return false
        case .terminated:
            return false
        @unknown default:
            return false
        }
    }

    /// Stanzas dropped because the queue was full.
    var droppedCount: Int { state.withLock { $0.dropped } }

    /// Whether the subscriber fell so far behind that it is being disconnected.
    var isOverrun: Bool { state.withLock { $0.overrun } }

    /// Ends the stream; the writer stops after what is queued.
    func finish() { continuation.finish() }
}
