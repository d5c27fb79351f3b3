import Logging
import PsEPRCore
import ServiceLifecycle

/// ServerCommands: obeys the configured service's commands on the update channel, one per
/// event, in the original's order of priority: a parameter change, `resetLogfile`,
/// `reportStatus` (a heartbeat now), `reportParameters` (every parameter on the report channel).
/// A `destinationHost` other than this server's name makes the command someone else's.
struct CommandService: Service {
    let context: ServerContext

    func run() async throws {
        let services = context.live.current.services
        await context.serve(
            "commands",
            channel: services.commandsChannel,
            namespace: ServiceSettings.commandsNamespace,
            from: services.commandsService,
            what: "a command"
        ) { event in
            do {
                try obey(ParameterSet(xml: event.payload))
            } catch {
                context.logger.log(.badError, .warning, "Ignored a malformed command", metadata: ["error": "\(error)"])
            }
        }
    }

    func obey(_ command: ParameterSet) {
        let configuration = context.live.current
        if let host = command["/payload/destinationHost"], !host.isEmpty,
            host.lowercased() != configuration.serverName.lowercased()
        {
            return
        }
        let logger = context.logger
        if let name = command["/payload/parameter/name"], let value = command["/payload/parameter/value"] {
            do {
                let live = try setParameter(name, value)
                logger.log(
                    .parameterDetail,
                    .notice,
                    live ? "Parameter changed" : "Parameter recorded; it takes effect at restart",
                    metadata: ["psepr.parameter": "\(name)", "psepr.value": "\(value)"]
                )
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
            var report = XMLWriter()
            report.element("payload", ["xmlns": ServiceSettings.parameterReportNamespace]) {
                $0.markup(parameters.nestedXML)
            }
            context.publish(
                channel: configuration.services.parameterReportChannel,
                namespace: ServiceSettings.parameterReportNamespace,
                payload: report.string,
                idPrefix: "ServerCommands"
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
