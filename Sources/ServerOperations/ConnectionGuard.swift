public import HummingbirdCore
public import NIOCore
public import NIOHTTPTypes
import Synchronization

extension HTTPServerBuilder {
    /// HTTP/1.1 with a cap on open connections, a per-request deadline and an idle timeout, so a
    /// flood of connections, or connections that never finish a request, cannot hold a server's
    /// resources for ever (both servers' HTTP ports, PsEPR's monitoring port). With
    /// `handlingOnEventLoop`, each connection's requests are handled on its event loop
    /// (``HandledOnEventLoop``) rather than on Swift's cooperative pool.
    public static func guardedHTTP1(
        maximumConnections: Int,
        idleTimeout: TimeAmount,
        requestTimeout: TimeAmount,
        handlingOnEventLoop: Bool = false
    ) -> HTTPServerBuilder {
        let counter = ConnectionCounter(limit: maximumConnections)
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                ConnectionGuard(counter: counter, requestTimeout: requestTimeout, idleTimeout: idleTimeout)
            ],
            idleTimeout: idleTimeout
        )
        guard handlingOnEventLoop else { return .http1(configuration: configuration) }
        return HTTPServerBuilder { responder in
            HandledOnEventLoop(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// A server's open connections, against its `maxConnections`.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)

    public init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot; `false` (and no slot) if all are taken.
    public func admit() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    public func release() { open.wrappingSubtract(1, ordering: .relaxed) }

    /// Connections open now.
    public var count: Int { open.load(ordering: .relaxed) }
}

/// Guards one connection: closes it at once when the server already has `maxConnections`,
/// and closes it when a request takes longer than `requestTimeout` to arrive whole (a client
/// that announces more bytes than it sends, or trickles them). The HTTP decoder passes a request
/// on only once its head is whole, so a head trickled byte by byte is bounded too: it must be
/// whole within `idleTimeout + requestTimeout` of the connection opening or of the previous
/// response's end (a silent connection is closed sooner, by the HTTP server's idle timeout).
/// While a response is computed and sent no deadline runs: a large download to a slow reader is
/// bounded by the idle timeout alone.
public final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let counter: ConnectionCounter
    private let requestTimeout: TimeAmount
    private let headTimeout: TimeAmount
    private var admitted = false
    private var requestDeadline: Scheduled<Void>?

    public init(counter: ConnectionCounter, requestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.counter = counter
        self.requestTimeout = requestTimeout
        self.headTimeout = idleTimeout + requestTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive, !admit() { context.close(promise: nil) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        // The handlers behind see the connection become active before it closes: closing first
        // and then passing the activation on would tell them of a connection that is already
        // gone, which Hummingbird's async channel does not survive.
        let admitted = admit()
        context.fireChannelActive()
        if admitted {
            closeUnlessDone(within: headTimeout, context: context)
        } else {
            context.close(promise: nil)
        }
    }

    /// Closes the connection after `limit` unless the deadline is moved or cancelled first.
    private func closeUnlessDone(within limit: TimeAmount, context: ChannelHandlerContext) {
        requestDeadline?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        requestDeadline = context.eventLoop.scheduleTask(in: limit) { bound.value.close(promise: nil) }
    }

    /// Takes a slot for this connection; false if the server is full.
    private func admit() -> Bool {
        if admitted { return true }
        admitted = counter.admit()
        return admitted
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            closeUnlessDone(within: requestTimeout, context: context)
        case .end:
            requestDeadline?.cancel()
            requestDeadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), admitted {
            closeUnlessDone(within: headTimeout, context: context)
        }
        context.write(data, promise: promise)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        releaseSlot()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
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
