import Logging
import ServerOperations
import ServiceLifecycle

/// Several times a second: checks every connection's write progress against its stall time and
/// write deadline (``EventRouter/enforceFlowDeadlines()``), and logs what it acted on. The router's
/// clock decides, so a test moving that clock by hand decides when deadlines pass.
struct FlowWatch: Service {
    let router: EventRouter
    /// Seconds between checks: a quarter of the shortest stall time, so a deadline is acted on
    /// within a quarter of it.
    let periodSeconds: Double
    let clock: any Clock<Duration>
    let logger: Logger

    init(router: EventRouter, flows: [FlowControl], clock: any Clock<Duration>, logger: Logger) {
        self.router = router
        self.periodSeconds = max(0.01, (flows.map(\.stallSeconds).min() ?? 1) / 4)
        self.clock = clock
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await repeatEvery(seconds: periodSeconds, on: clock) { check() }
        }
    }

    /// One check; returns what it acted on.
    @discardableResult
    func check() -> [FlowAction] {
        let actions = router.enforceFlowDeadlines()
        for action in actions {
            var metadata: Logger.Metadata = [
                "psepr.session": "\(action.session)", "psepr.role": "\(action.role.rawValue)",
                "psepr.account": "\(action.account ?? "")",
                "psepr.remote": "\(action.remote)",
            ]
            switch action.progress {
            case .moving: break
            case .stallExpired(let publishers, let pendingBytes):
                metadata["psepr.publishers"] = "\(publishers)"
                metadata["psepr.pendingBytes"] = "\(pendingBytes)"
                logger.log(
                    .io,
                    .info,
                    "A subscriber took nothing for its stall time: its publishers go on without it",
                    metadata: metadata
                )
            case .slowConsumer(let pendingBytes):
                metadata["psepr.pendingBytes"] = "\(pendingBytes)"
                logger.log(
                    .io,
                    .notice,
                    "Slow consumer disconnected: it took nothing within the write deadline",
                    metadata: metadata
                )
            }
        }
        return actions
    }
}
