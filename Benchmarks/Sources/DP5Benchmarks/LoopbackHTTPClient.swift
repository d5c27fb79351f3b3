import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP client `dp5-bench http` drives the server with: one HTTP/1.1 connection (NIO's own
/// encoder and decoder over a TCP socket, `TCP_NODELAY`) whose requests are sent and timed on its
/// event loop, each as soon as the previous response has ended.
///
/// A general client (AsyncHTTPClient) hands every request and every response between the caller's
/// task, its connection pool and the event loop, each hand-off a thread wake-up: on this 2-core
/// machine its `GET /` took 0.7-0.8 ms at p50 while the server's own handling took tens of
/// microseconds. Measuring from the event loop leaves the server's costs and the sockets' in a
/// row's latencies, and no task hops of the benchmark's own; every row uses this same client.
final class LoopbackHTTPConnection: Sendable {
    private let channel: any Channel
    private let host: String

    private init(channel: any Channel, host: String) {
        self.channel = channel
        self.host = host
    }

    /// Connects to `host:port`.
    static func connect(host: String, port: Int) async throws -> LoopbackHTTPConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(RequestLoop())
                }
            }
            .connect(host: host, port: port)
            .get()
        return LoopbackHTTPConnection(channel: channel, host: host)
    }

    /// What to send, how often, and what a good answer holds.
    struct Plan: Sendable {
        var method: HTTPMethod
        var path: String
        var body: ByteBuffer?
        /// Requests to send; `nil` for as many as until `stop` is raised.
        var count: Int?
        /// Raised to stop an open-ended plan after the request in flight.
        var stop: ManagedFlag?
        /// The wait between a response's end and the next request.
        var pause: TimeAmount = .zero
        /// The least body bytes of a good answer.
        var minimumBodyBytes = 0
    }

    /// Sends the plan's requests one after another; returns each one's latency, from the request
    /// handed to the socket to its response's end.
    func run(_ plan: Plan) async throws -> Latencies {
        let channel = self.channel
        let host = self.host
        return try await channel.eventLoop.flatSubmit {
            do {
                let loop = try channel.pipeline.syncOperations.handler(type: RequestLoop.self)
                return loop.start(plan, host: host, on: channel.eventLoop)
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }

    func close() async {
        try? await channel.close()
    }
}

/// A benchmark request answered with something other than the expected answer.
struct BenchmarkHTTPError: Error, CustomStringConvertible {
    let description: String
}

/// Sends one request at a time and times it, on the connection's event loop.
private final class RequestLoop: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var plan: LoopbackHTTPConnection.Plan?
    private var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
    private var promise: EventLoopPromise<Latencies>?
    private var latencies = Latencies()
    private var sent = NIODeadline.now()
    private var sentCount = 0
    private var status: HTTPResponseStatus = .ok
    private var bodyBytes = 0

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func start(
        _ plan: LoopbackHTTPConnection.Plan,
        host: String,
        on eventLoop: any EventLoop
    )
        -> EventLoopFuture<Latencies>
    {
        guard promise == nil else {
            return eventLoop.makeFailedFuture(BenchmarkHTTPError(description: "a plan is already running"))
        }
        var headers = HTTPHeaders([("Host", host)])
        if let body = plan.body {
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
        }
        head = HTTPRequestHead(version: .http1_1, method: plan.method, uri: plan.path, headers: headers)
        self.plan = plan
        latencies = Latencies()
        sentCount = 0
        let promise = eventLoop.makePromise(of: Latencies.self)
        self.promise = promise
        sendNext()
        return promise.futureResult
    }

    private func sendNext() {
        guard let context, let plan else { return }
        if let count = plan.count, sentCount >= count { return finish(nil) }
        if plan.count == nil, plan.stop?.isRaised ?? true { return finish(nil) }
        sentCount += 1
        status = .ok
        bodyBytes = 0
        sent = .now()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body = plan.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let response):
            status = response.status
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
        case .end:
            let ended = NIODeadline.now()
            guard let plan else { return }
            guard status == .ok, bodyBytes >= plan.minimumBodyBytes else {
                return finish(
                    BenchmarkHTTPError(
                        description:
                            "\(plan.method) \(plan.path) answered \(status) with \(bodyBytes) bytes, expected \(plan.minimumBodyBytes)+"
                    )
                )
            }
            latencies.add(.nanoseconds(Int64(ended.uptimeNanoseconds - sent.uptimeNanoseconds)))
            if plan.pause == .zero {
                sendNext()
            } else {
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: plan.pause) { bound.value.sendNext() }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(BenchmarkHTTPError(description: "the server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(error)
        context.close(promise: nil)
    }

    private func finish(_ error: (any Error)?) {
        guard let promise else { return }
        self.promise = nil
        plan = nil
        if let error { promise.fail(error) } else { promise.succeed(latencies) }
    }
}
