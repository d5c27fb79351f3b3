import Foundation
import Logging
import NIOCore
import NIOPosix
import PsEPRCore
import ServiceLifecycle

/// Binds one of the server's ports (client, OneEvent, LeasePeer) the one way they all are:
/// addresses reused, no Nagle delay, the listener's ``AdmissionHandler`` first on every accepted
/// connection and then the port's own handlers from `initialize`, run on the connection's event
/// loop. Says in the log that the listener is ready and reports its address.
func bindListener(
    admission: AdmissionControl,
    host: String,
    port: Int,
    parameter: String,
    logger: Logger,
    onListening: @Sendable (SocketAddress) async -> Void,
    initialize: @escaping @Sendable (any Channel) throws -> Void
) async throws -> any Channel {
    let server = try await bindingListener(admission.listener, host: host, port: port, parameter: parameter) {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: receiveBuffers)
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AdmissionHandler(admission: admission))
                    try initialize(channel)
                }
            }
            .bind(host: host, port: port)
            .get()
    }
    if let address = server.localAddress {
        logger.log(
            .services,
            .info,
            "Listener ready",
            metadata: ["psepr.listener": "\(admission.listener)", "psepr.address": "\(address)"]
        )
        await onListening(address)
    }
    return server
}

/// Reads grow up to 256 KiB while a peer sends faster than it is read (NIO's default stops at
/// 64 KiB): a publisher's burst then costs a quarter of the reads and of the window updates
/// they send. Taken one per wake-up (NIO's default is four), which keeps what a held-back
/// publisher can still add past a queue's high-water mark at 256 KiB as four reads of 64 KiB
/// did, they measured 7–13 % less server CPU per event than NIO's defaults in two runs of the
/// 1 → 1 harness round, alternating builds; the delivered rate moved within the runs' noise.
private let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)

/// Waits until `server` closes, closing it at graceful shutdown or cancellation.
func serveUntilShutdown(_ server: any Channel) async throws {
    try await withTaskCancellationOrGracefulShutdownHandler {
        try await server.closeFuture.get()
    } onCancelOrGracefulShutdown: {
        server.close(promise: nil)
    }
}

/// Runs `bind`, turning a failure into one that names the listener, its address and port and
/// the parameter that sets the port.
func bindingListener<Bound>(
    _ listener: String,
    host: String,
    port: Int,
    parameter: String,
    _ bind: () async throws -> Bound
) async throws -> Bound {
    do {
        return try await bind()
    } catch {
        throw ListenerBindError(
            listener: listener,
            host: host,
            port: port,
            parameter: parameter,
            reason: plainReason(error)
        )
    }
}

/// The operating system's words for a socket error, else the error's own.
func plainReason(_ error: any Error) -> String {
    if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
    return "\(error)"
}

/// A listener that could not bind its address and port.
public struct ListenerBindError: Error, CustomStringConvertible {
    /// Which listener (`client`, `oneEvent`, `leasePeer`).
    public let listener: String
    /// The address it tried.
    public let host: String
    /// The port it tried.
    public let port: Int
    /// The parameter that sets the port.
    public let parameter: String
    /// Why, in the operating system's words.
    public let reason: String

    public var description: String {
        "cannot listen for \(listener) connections on \(host):\(port) (\(parameter)): \(reason)"
    }
}
