import NIOCore
import PsEPRCore
import Synchronization

/// A publishing connection's reads, paused while any subscriber it feeds is over its high-water
/// mark. It sits in the connection's pipeline and holds back the `read` that asks the socket for
/// more; when the last subscriber holding it drains, the read goes out again, after an
/// ``Opened`` event through the pipeline (a reader that stopped within a read goes on with what
/// it kept, whether or not the socket has more).
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

    /// The inbound event that says the gate has opened.
    struct Opened: Sendable {}

    /// A queue lets go; the last one says so through the pipeline and lets the held-back read out
    /// (on the connection's loop).
    func release() {
        let (opened, readHeld) = state.withLock { state -> (Bool, Bool) in
            state.holders -= 1
            guard state.holders == 0 else { return (false, false) }
            defer { state.readHeld = false }
            return (true, state.readHeld)
        }
        guard opened else { return }
        let channel = self.channel
        channel.eventLoop.execute {
            channel.pipeline.fireUserInboundEventTriggered(Opened())
            if readHeld { channel.read() }
        }
    }

    /// Whether reads are paused now (for tests).
    var isHeld: Bool { state.withLock { $0.holders > 0 } }
}
