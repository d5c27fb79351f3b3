import Logging
import PsEPRCore
import ServiceLifecycle

/// Accounting: takes account tables from the accounting channel, only from the configured
/// service, and makes each the table logins are checked against (replacing the one before,
/// as a whole). Its route propagates, so one table published anywhere reaches every server.
struct AccountingService: Service {
    let context: ServerContext

    func run() async throws {
        let services = context.live.current.services
        await context.serve("accounting", channel: services.accountingChannel, namespace: ServiceSettings.accountingNamespace,
                            from: services.accountingService, what: "an account table") { event in
            do {
                guard let table = try AccountTable(accountingPayload: event.payload) else { return }
                context.live.update { $0.accounts = table }
                context.logger.log(.services, .notice, "Account table replaced", metadata: ["psepr.accounts": "\(table.count)", "psepr.from": "\(event.fromService ?? "")"])
            } catch {
                context.logger.log(.badError, .warning, "Ignored a malformed account table", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// ServerCommands: obeys the configured service's commands on the update channel, one per
/// event, in the original's order of priority: a parameter change, `resetLogfile`,
/// `reportStatus` (a heartbeat now), `reportParameters` (every parameter on the report channel).
/// A `destinationHost` other than this server's name makes the command someone else's.
struct CommandService: Service {
    let context: ServerContext

    func run() async throws {
        let services = context.live.current.services
        await context.serve("commands", channel: services.commandsChannel, namespace: ServiceSettings.commandsNamespace,
                            from: services.commandsService, what: "a command") { event in
            do {
                try obey(ParameterSet(xml: event.payload))
            } catch {
                context.logger.log(.badError, .warning, "Ignored a malformed command", metadata: ["error": "\(error)"])
            }
        }
    }

    func obey(_ command: ParameterSet) {
        let configuration = context.live.current
        if let host = command["/payload/destinationHost"], !host.isEmpty, host.lowercased() != configuration.serverName.lowercased() { return }
        let logger = context.logger
        if let name = command["/payload/parameter/name"], let value = command["/payload/parameter/value"] {
            do {
                let live = try setParameter(name, value)
                logger.log(.parameterDetail, .notice, live ? "Parameter changed" : "Parameter recorded; it takes effect at restart", metadata: ["psepr.parameter": "\(name)", "psepr.value": "\(value)"])
            } catch {
                logger.log(.badError, .warning, "Parameter command refused", metadata: ["error": "\(error)"])
            }
        } else if command["/payload/resetLogfile"] != nil {
            context.logControl?.file?.reopen()
            logger.log(.services, .notice, "Log file reopened by command")
        } else if command["/payload/reportStatus"] != nil {
            context.statusSignal.yield()
        } else if command["/payload/reportParameters"] != nil {
            let parameters = context.live.current.parameters
            context.publish(
                channel: configuration.services.parameterReportChannel, namespace: ServiceSettings.parameterReportNamespace,
                payload: "<payload xmlns='\(ServiceSettings.parameterReportNamespace)'>\(parameters.nestedXML)</payload>", idPrefix: "ServerCommands"
            )
        }
    }

    /// Validates and records `name = value`; applies it now when it is a live parameter.
    /// Returns whether it took effect now.
    ///
    /// - Throws: ``ParameterError`` when the value is not valid for the parameter.
    func setParameter(_ name: String, _ value: String) throws -> Bool {
        var parameters = context.live.current.parameters
        parameters.set(name, value)
        // The whole set is checked as at start-up, so a value is refused here exactly when it would
        // be refused in the file. (Checked outside the lock: connections read the configuration.)
        let checked = try ServerSettings(parameters: parameters)
        let isFilter = name.lowercased() == ServerSettings.Key.filterLevel.lowercased()
        if isFilter { context.logControl?.filter = checked.logFilter }
        let applied = context.live.update { configuration in
            configuration.parameters.set(name, value)
            return ServerSettings.applyLive(name, from: checked.server, to: &configuration)
        }
        return applied || (isFilter && context.logControl != nil)
    }
}

/// Routes the events of `channel` in `namespace` to a built-in service (its route leased on peers
/// too, so publications anywhere in the mesh reach it) and hands `handle` those sent by `sender`,
/// the only service allowed to send `what`; others are logged and dropped. Returns at shutdown.
func serveServiceChannel(
    _ name: String, router: EventRouter, logger: Logger, channel: String, namespace: String, from sender: String?, what: String,
    _ handle: @escaping @Sendable (Event) async -> Void
) async {
    let inbox = ServiceInbox(name: name, propagates: true)
    guard let channel = try? ChannelName(channel) else { return }
    router.subscribe(inbox, channel: channel, namespace: namespace)
    await cancelWhenGracefulShutdown {
        for await event in inbox.events {
            guard let sender, let from = event.fromService, from.lowercased() == sender.lowercased() else {
                logger.log(.badError, .warning, "Ignored \(what) from a service not allowed to send it", metadata: [
                    "psepr.from": "\(event.fromService ?? "")", "psepr.allowed": "\(sender ?? "none configured")",
                ])
                continue
            }
            await handle(event)
        }
    }
}

extension ServerContext {
    /// ``serveServiceChannel(_:router:logger:channel:namespace:from:what:_:)`` on this server.
    func serve(_ name: String, channel: String, namespace: String, from sender: String?, what: String, _ handle: @escaping @Sendable (Event) async -> Void) async {
        await serveServiceChannel(name, router: router, logger: logger, channel: channel, namespace: namespace, from: sender, what: what, handle)
    }
}
