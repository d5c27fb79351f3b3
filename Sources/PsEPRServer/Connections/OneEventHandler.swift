import Logging
import NIOCore
import PsEPRCore

/// One OneEvent connection on its event loop: the first document is answered with a
/// `<result>` line and the connection closed; so is a sender that sends nothing within the
/// timeout, or a document that is not well-formed.
final class OneEventHandler: ChannelInboundHandler {
    typealias InboundIn = StreamFrame
    typealias OutboundOut = ByteBuffer

    private let accounts: AccountTable?
    private let timeoutSeconds: Int
    private let router: EventRouter
    private let logger: Logger
    private var timeout: Scheduled<Void>?
    private var answered = false

    init(accounts: AccountTable?, timeoutSeconds: Int, router: EventRouter, logger: Logger) {
        self.accounts = accounts
        self.timeoutSeconds = timeoutSeconds
        self.router = router
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timeout == nil, !answered else { return }
        router.countConnection(.oneEvent)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(timeoutSeconds))) { [self] in
            answer("error: no event within \(timeoutSeconds) seconds", context: bound.value)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .stanza(let buffer) = unwrapInboundIn(data), !answered else { return }
        let result: String
        do {
            result = try accept(Array(buffer.readableBytesView), remote: context.channel.remoteAddress)
        } catch {
            result = "error: \(ClientSessionMachine.plainWords(error))"
        }
        answer(result, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The framer refused the bytes (not well-formed, too large): the sender is told why.
        answer("error: \(ClientSessionMachine.plainWords(error))", context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        if !answered {
            answered = true
            logger.log(.io, .debug, "OneEvent connection closed before an event")
        }
        context.fireChannelInactive()
    }

    private func answer(_ result: String, context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        timeout?.cancel()
        var line = XMLWriter(capacity: result.utf8.count + 20)
        line.element("result", text: result)
        line.markup("\n")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(line.buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Checks the document's credentials and routes its event; returns the result line.
    private func accept(_ bytes: [UInt8], remote: SocketAddress?) throws -> String {
        let document = try ParsedElement.parse(bytes)
        guard document.localName == "inputEvent",
            let credentials = document.child("authentication")?.child("passwordAuth"),
            let service = credentials.childText("service"),
            let carrier = document.child("oneEvent")
        else { return "error: expected <inputEvent> with <authentication><passwordAuth> and <oneEvent>" }
        let check = accounts?.check(service: service, password: credentials.child("password")?.text ?? "") ?? .accepted
        guard check == .accepted else {
            logger.log(
                .io,
                .notice,
                "OneEvent login refused",
                metadata: [
                    "psepr.service": "\(service)", "psepr.remote": "\(remote.map { "\($0)" } ?? "")",
                    "psepr.reason": "\(check)",
                ]
            )
            return "error: not authorized"
        }
        var event = try Event(element: carrier, source: bytes)
        guard event.payloadNamespace != LeaseOperation.namespace else {
            return "error: leases need a client connection"
        }
        event.fromService = service
        router.route(event, source: .oneEvent)
        return "ok"
    }
}
