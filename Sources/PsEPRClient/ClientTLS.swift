import NIOCore
public import NIOSSL
import NIOTLS
import PsEPRCore

/// Whether and how a client runs STARTTLS, and which server certificates it accepts.
///
/// Certificates are verified by default, against the system's roots plus ``trustCertificatePath``
/// (for a server with a self-signed certificate, as DP5's `trustCertificate`); the server's
/// certificate must be valid for the host name the client dialled.
public struct ClientTLSOptions: Sendable, Hashable {
    /// When STARTTLS is used.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// When the server offers it (servers without a certificate, and the original's, do not).
        case whenOffered = "when-offered"
        /// Always: a server that does not offer it is not logged in to.
        case required
        /// Never.
        case disabled
    }

    /// When STARTTLS is used; ``Mode/whenOffered`` by default.
    public var mode: Mode
    /// A PEM certificate (or bundle) trusted besides the system's roots.
    public var trustCertificatePath: String?
    /// Whether server certificates are verified at all.
    public var verifyCertificates: Bool

    /// Creates options.
    public init(mode: Mode = .whenOffered, trustCertificatePath: String? = nil, verifyCertificates: Bool = true) {
        self.mode = mode
        self.trustCertificatePath = trustCertificatePath
        self.verifyCertificates = verifyCertificates
    }

    /// The TLS context these options describe.
    ///
    /// - Throws: ``ServerListError`` naming the trust file when it cannot be loaded.
    public func makeContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if !verifyCertificates {
            configuration.certificateVerification = .none
        } else if let trustCertificatePath {
            do {
                configuration.additionalTrustRoots = [
                    .certificates(try NIOSSLCertificate.fromPEMFile(trustCertificatePath))
                ]
            } catch {
                throw ServerListError(
                    message: "cannot load a PEM certificate to trust from \(trustCertificatePath): \(error)"
                )
            }
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Sent down the client's pipeline when a new XML stream begins (inside TLS, after STARTTLS):
/// ``RestartableStreamFramer`` starts afresh.
struct RestartStreamFraming: Sendable {}

/// Frames the client's inbound bytes into ``StreamFrame``s, and starts a new stream on
/// ``RestartStreamFraming`` (a `ByteToMessageHandler` keeps its decoder for the connection's life).
final class RestartableStreamFramer: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = StreamFrame
    typealias OutboundIn = ByteBuffer

    private let limits: XMLStreamFramer.Limits
    private var framer: XMLStreamFramer
    private var unframed: ByteBuffer?
    private var failed = false

    init(limits: XMLStreamFramer.Limits) {
        self.limits = limits
        self.framer = XMLStreamFramer(mode: .stream, limits: limits)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var bytes = unwrapInboundIn(data)
        if var pending = unframed {
            unframed = nil
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        do {
            while let frame = try framer.decode(buffer: &bytes) { context.fireChannelRead(wrapInboundOut(frame)) }
        } catch {
            failed = true
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if bytes.readableBytes > 0 {
            // Bytes already framed are dropped once they outweigh the rest, so a stream whose
            // reads seldom end on a stanza boundary does not keep everything it has received.
            if bytes.readerIndex > 4096, bytes.readerIndex > bytes.readableBytes { bytes.discardReadBytes() }
            unframed = bytes
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is RestartStreamFraming else { return context.triggerUserOutboundEvent(event, promise: promise) }
        framer = XMLStreamFramer(mode: .stream, limits: limits)
        unframed = nil
        promise?.succeed()
    }
}

/// Sits right after the TLS handler while the handshake runs and reports how it ended, so a
/// failed handshake surfaces as TLS's own error rather than as a write on a closed channel.
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) {
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            done.succeed()
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}
