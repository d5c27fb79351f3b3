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
        await context.serve(
            "accounting",
            channel: services.accountingChannel,
            namespace: ServiceSettings.accountingNamespace,
            from: services.accountingService,
            what: "an account table"
        ) { event in
            do {
                guard let table = try AccountTable(accountingPayload: event.payload) else { return }
                context.live.update { $0.accounts = table }
                context.logger.log(
                    .services,
                    .notice,
                    "Account table replaced",
                    metadata: ["psepr.accounts": "\(table.count)", "psepr.from": "\(event.fromService ?? "")"]
                )
            } catch {
                context.logger.log(
                    .badError,
                    .warning,
                    "Ignored a malformed account table",
                    metadata: ["error": "\(error)"]
                )
            }
        }
    }
}
