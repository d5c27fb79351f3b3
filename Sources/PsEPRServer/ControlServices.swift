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
        let inbox = ServiceInbox(name: "accounting", propagates: true)
        guard let channel = try? ChannelName(services.accountingChannel) else { return }
        context.router.subscribe(inbox, channel: channel, namespace: ServiceSettings.accountingNamespace)
        await cancelWhenGracefulShutdown {
            for await event in inbox.events {
                guard context.isAllowed(event, sender: services.accountingService, what: "an account table") else { continue }
                do {
                    guard let table = try AccountTable(accountingPayload: event.payload) else { continue }
                    context.live.update { $0.accounts = table }
                    context.logger.log(.services, .notice, "Account table replaced", metadata: ["psepr.accounts": "\(table.count)", "psepr.from": "\(event.fromService ?? "")"])
                } catch {
                    context.logger.log(.badError, .warning, "Ignored a malformed account table", metadata: ["error": "\(error)"])
                }
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
        let inbox = ServiceInbox(name: "commands", propagates: true)
        guard let channel = try? ChannelName(services.commandsChannel) else { return }
        context.router.subscribe(inbox, channel: channel, namespace: ServiceSettings.commandsNamespace)
        await cancelWhenGracefulShutdown {
            for await event in inbox.events where context.isAllowed(event, sender: services.commandsService, what: "a command") {
                do {
                    try obey(ParameterSet(xml: event.payload))
                } catch {
                    context.logger.log(.badError, .warning, "Ignored a malformed command", metadata: ["error": "\(error)"])
                }
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
        try context.live.update { configuration in
            var parameters = configuration.parameters
            parameters.set(name, value)
            // The whole set is checked as at start-up, so a value is refused here exactly when it
            // would be refused in the file.
            let checked = try ServerSettings(parameters: parameters)
            configuration.parameters.set(name, value)
            if name.lowercased() == ServerSettings.Key.filterLevel.lowercased() {
                context.logControl?.filter = checked.logFilter
                return context.logControl != nil
            }
            return ServerSettings.applyLive(name, from: checked.server, to: &configuration)
        }
    }
}

extension ServerContext {
    /// Whether `event` comes from `sender`, the only service allowed to send `what`; logs a refusal.
    func isAllowed(_ event: Event, sender: String?, what: String) -> Bool {
        if let sender, let from = event.fromService, from.lowercased() == sender.lowercased() { return true }
        logger.log(.badError, .warning, "Ignored \(what) from a service not allowed to send it", metadata: [
            "psepr.from": "\(event.fromService ?? "")", "psepr.allowed": "\(sender ?? "none configured")",
        ])
        return false
    }
}
