import NIOCore
import NIOHTTPTypes
import Synchronization

/// A server's open connections, against its `maxConnections`.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot; `false` (and no slot) if all are taken.
    func admit() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func release() { open.wrappingSubtract(1, ordering: .relaxed) }

    /// Connections open now.
    var count: Int { open.load(ordering: .relaxed) }
}

/// Guards one connection: closes it at once when the server already has `maxConnections`,
/// and closes it when a request takes longer than `requestTimeout` to arrive whole (a client
/// that announces more bytes than it sends, or trickles them). Idle connections are closed by
/// the HTTP server's own idle timeout.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let counter: ConnectionCounter
    private let requestTimeout: TimeAmount
    private var admitted = false
    private var requestDeadline: Scheduled<Void>?

    init(counter: ConnectionCounter, requestTimeout: TimeAmount) {
        self.counter = counter
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive, !admit() { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        // The handlers behind see the connection become active before it closes: closing first
        // and then passing the activation on would tell them of a connection that is already
        // gone, which Hummingbird's async channel does not survive.
        let admitted = admit()
        context.fireChannelActive()
        if !admitted { context.close(promise: nil) }
    }

    /// Takes a slot for this connection; false if the server is full.
    private func admit() -> Bool {
        if admitted { return true }
        admitted = counter.admit()
        return admitted
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestDeadline?.cancel()
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            requestDeadline = context.eventLoop.scheduleTask(in: requestTimeout) { bound.value.close(promise: nil) }
        case .end:
            requestDeadline?.cancel()
            requestDeadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseSlot()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseSlot()
    }

    private func releaseSlot() {
        requestDeadline?.cancel()
        requestDeadline = nil
        if admitted {
            admitted = false
            counter.release()
        }
    }
}
