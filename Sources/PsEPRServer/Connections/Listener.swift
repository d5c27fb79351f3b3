import Foundation
import Logging
import NIOCore
import NIOPosix
import PsEPRCore
import ServiceLifecycle

/// Binds `host:port`, frames each connection with an ``XMLStreamFramer`` in `mode`, and serves
/// every connection in its own task until graceful shutdown closes the listener and ends the
/// open connections. (The OneEvent listener: one short document per connection.)
func runStanzaListener(
    host: String,
    port: Int,
    parameter: String,
    mode: XMLStreamFramer.Mode,
    limits: XMLStreamFramer.Limits,
    admission: AdmissionControl,
    logger: Logger,
    onListening: @Sendable (SocketAddress) async -> Void,
    serve: @escaping @Sendable (NIOAsyncChannel<StreamFrame, ByteBuffer>) async -> Void
) async throws {
    let server = try await bindingListener(admission.listener, host: host, port: port, parameter: parameter) {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handlers = channel.pipeline.syncOperations
                    try handlers.addHandler(AdmissionHandler(admission: admission))
                    try handlers.addHandler(ByteToMessageHandler(XMLStreamFramer(mode: mode, limits: limits)))
                    return try NIOAsyncChannel<StreamFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }
    let name = admission.listener
    if let address = server.channel.localAddress {
        logger.log(
            .services,
            .info,
            "Listener ready",
            metadata: ["psepr.listener": "\(name)", "psepr.address": "\(address)"]
        )
        await onListening(address)
    }
    try await withGracefulShutdownHandler {
        // A discarding group: finished connections leave nothing behind.
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    // On shutdown open connections end too, not only the listener.
                    group.addTask { await cancelWhenGracefulShutdown { await serve(connection) } }
                }
            }
        }
    } onGracefulShutdown: {
        server.channel.close(promise: nil)
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
