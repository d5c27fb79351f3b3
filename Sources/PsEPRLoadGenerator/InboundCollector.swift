public import NIOCore

/// Hands every inbound chunk to an `AsyncStream`, finishing it when the connection closes; an
/// error closes the connection.
public final class InboundCollector: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    private let sink: AsyncStream<ByteBuffer>.Continuation

    public init(_ sink: AsyncStream<ByteBuffer>.Continuation) { self.sink = sink }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) { sink.yield(unwrapInboundIn(data)) }

    public func channelInactive(context: ChannelHandlerContext) {
        sink.finish()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
