import NIOCore
import PsEPRCore
import Synchronization

/// A publishing connection's reads, paused while any subscriber it feeds is over its high-water
/// mark. It sits in the connection's pipeline and holds back the `read` that asks the socket for
/// more; when the last subscriber holding it drains, the read goes out again.
final class ReadGate: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = Any

    private struct State {
        /// Subscribers' queues holding the gate.
        var holders = 0
        /// Whether a read was held back.
        var readHeld = false
    }

    private let state = Mutex(State())
    private let channel: any Channel

    init(channel: any Channel) { self.channel = channel }

    func read(context: ChannelHandlerContext) {
        let held = state.withLock { state in
            if state.holders > 0 { state.readHeld = true }
            return state.holders > 0
        }
        if !held { context.read() }
    }

    // `hold` and `release` are for outbound queues only: a queue holds the gates of the
    // publishers that filled it past its high-water mark and releases them as it drains.

    /// One more queue holds the gate; true if it was open.
    func hold() -> Bool {
        state.withLock { state in
            defer { state.holders += 1 }
            return state.holders == 0
        }
    }

    /// A queue lets go; the last one lets the held-back read out (on the connection's loop).
    func release() {
        let resume = state.withLock { state -> Bool in
            state.holders -= 1
            guard state.holders == 0, state.readHeld else { return false }
            state.readHeld = false
            return true
        }
        guard resume else { return }
        let channel = self.channel
        channel.eventLoop.execute { channel.read() }
    }

    /// Whether reads are paused now (for tests).
    var isHeld: Bool { state.withLock { $0.holders > 0 } }
}
