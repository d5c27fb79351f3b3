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
    mode: XMLStreamFramer.Mode,
    limits: XMLStreamFramer.Limits,
    name: String,
    logger: Logger,
    onListening: @Sendable (SocketAddress) async -> Void,
    serve: @escaping @Sendable (NIOAsyncChannel<StreamFrame, ByteBuffer>) async -> Void
) async throws {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .bind(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(XMLStreamFramer(mode: mode, limits: limits)))
                return try NIOAsyncChannel<StreamFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    if let address = server.channel.localAddress {
        logger.log(.services, .info, "Listener ready", metadata: ["psepr.listener": "\(name)", "psepr.address": "\(address)"])
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
