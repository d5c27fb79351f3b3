import Foundation
import Logging
import NIOCore
import Synchronization

/// The first handler of every accepted connection: counts it in its listener's
/// ``AdmissionControl`` until it authenticates or closes.
final class AdmissionHandler: ChannelDuplexHandler {
    // Bytes pass through untouched.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let admission: AdmissionControl
    private var counted = false

    init(admission: AdmissionControl) {
        self.admission = admission
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        admission.admit(context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        admission.release(context.channel)
        context.fireChannelInactive()
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ConnectionAuthenticated else { return context.triggerUserOutboundEvent(event, promise: promise) }
        admission.release(context.channel)
        promise?.succeed()
    }
}
