import NIOCore

/// Writes a publisher's batches from its event loop.
final class PublishingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let templates: StanzaTemplates
    private let count: Int
    private let batch: Int
    private let nanosecondsPerEvent: Double
    private let started: UInt64
    private let done: EventLoopPromise<Void>
    private var sent = 0
    private var timerArmed = false

    init(
        templates: StanzaTemplates,
        count: Int,
        batch: Int,
        rate: Double,
        started: UInt64,
        done: EventLoopPromise<Void>
    ) {
        self.templates = templates
        self.count = count
        self.batch = batch
        self.nanosecondsPerEvent = rate > 0 ? 1e9 / rate : 0
        self.started = started
        self.done = done
    }

    /// Writes batches until the socket is full, the rate says wait, or everything is out.
    func pump(_ context: ChannelHandlerContext) {
        var wrote = false
        while sent < count, context.channel.isWritable {
            if nanosecondsPerEvent > 0 {
                let due = started + UInt64(Double(sent) * nanosecondsPerEvent)
                let now = monotonicNanoseconds()
                if due > now {
                    if !timerArmed {
                        timerArmed = true
                        context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(due - now))) { [self] in
                            timerArmed = false
                            pump(context)
                        }
                    }
                    break
                }
            }
            let size = min(batch, count - sent)
            context.write(wrapOutboundOut(templates.batch(count: size, first: sent)), promise: nil)
            sent += size
            wrote = true
        }
        guard wrote else { return }
        if sent == count {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: done)
        } else {
            context.flush()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump(context) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if sent < count { done.fail(LoadGeneratorError("the server closed a publisher")) }
        context.fireChannelInactive()
    }
}
