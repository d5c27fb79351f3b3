import Logging
import PsEPRCore
import ServiceLifecycle

/// Routes the events of `channel` in `namespace` to a built-in service (its route leased on peers
/// too, so publications anywhere in the mesh reach it) and hands `handle` those sent by `sender`,
/// the only service allowed to send `what`; others are logged and dropped. Returns at shutdown.
func serveServiceChannel(
    _ name: String,
    router: EventRouter,
    logger: Logger,
    channel: String,
    namespace: String,
    from sender: String?,
    what: String,
    _ handle: @escaping @Sendable (Event) async -> Void
) async {
    let inbox = ServiceInbox(name: name, propagates: true)
    guard let channel = try? ChannelName(channel) else { return }
    router.subscribe(inbox, channel: channel, namespace: namespace)
    await cancelWhenGracefulShutdown {
        for await event in inbox.events {
            guard let sender, let from = event.fromService, from.lowercased() == sender.lowercased() else {
                logger.log(
                    .badError,
                    .warning,
                    "Ignored \(what) from a service not allowed to send it",
                    metadata: [
                        "psepr.from": "\(event.fromService ?? "")", "psepr.allowed": "\(sender ?? "none configured")",
                    ]
                )
                continue
            }
            await handle(event)
        }
    }
}

extension ServerContext {
    /// ``serveServiceChannel(_:router:logger:channel:namespace:from:what:_:)`` on this server.
    func serve(
        _ name: String,
        channel: String,
        namespace: String,
        from sender: String?,
        what: String,
        _ handle: @escaping @Sendable (Event) async -> Void
    ) async {
        await serveServiceChannel(
            name,
            router: router,
            logger: logger,
            channel: channel,
            namespace: namespace,
            from: sender,
            what: what,
            handle
        )
    }
}
