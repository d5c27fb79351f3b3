import NIOCore
import PsEPRCore
import Synchronization

/// A connection handler that routes what it reads into subscribers' queues and drains its own.
///
/// Routing defers each touched queue's drain to the end of the socket read (one wake-up and one
/// flush per subscriber per read, however many events the read held); a queue the socket would
/// not take waits until the socket is writable again. Subscribers the read pushed past their
/// high-water mark then hold the connection's ``ReadGate`` shut.
protocol QueueDrainingHandler: ChannelInboundHandler {
    /// What the current read routed.
    var routing: RoutingScratch { get set }
    /// This connection's own queue.
    var queue: OutboundQueue? { get }
    /// The gate on this connection's reads.
    var gate: ReadGate? { get }
}
extension QueueDrainingHandler {
    func channelReadComplete(context: ChannelHandlerContext) {
        routing.finishRead(gate: gate)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { queue?.drain() }
        context.fireChannelWritabilityChanged()
    }
}
