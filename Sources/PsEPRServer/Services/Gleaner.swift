import Logging
import ServerOperations
import ServiceLifecycle

/// Every few seconds: sweeps expired leases out of the route table (they already match nothing;
/// the sweep frees their memory, and when the last lease of a channel goes the mesh releases its
/// peer leases for it) and detaches connections whose socket closed without the server hearing.
struct Gleaner: Service {
    let router: EventRouter
    let periodSeconds: Double
    let clock: any Clock<Duration>
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await repeatEvery(seconds: periodSeconds, on: clock) {
                let removed = router.removeExpiredLeases()
                if removed > 0 { logger.log(.gleaner, .debug, "Gleaned expired leases", metadata: ["psepr.leases": "\(removed)"]) }
                let reaped = router.reapClosedConnections()
                if reaped > 0 { logger.log(.gleaner, .info, "Reaped closed connections", metadata: ["psepr.connections": "\(reaped)"]) }
            }
        }
    }
}

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
    func check() -> [EventRouter.FlowAction] {
        let actions = router.enforceFlowDeadlines()
        for action in actions {
            var metadata: Logger.Metadata = [
                "psepr.session": "\(action.session)", "psepr.role": "\(action.role.rawValue)", "psepr.account": "\(action.account ?? "")",
                "psepr.remote": "\(action.remote)",
            ]
            switch action.progress {
            case .moving: break
            case .stallExpired(let publishers, let pendingBytes):
                metadata["psepr.publishers"] = "\(publishers)"
                metadata["psepr.pendingBytes"] = "\(pendingBytes)"
                logger.log(.io, .info, "A subscriber took nothing for its stall time: its publishers go on without it", metadata: metadata)
            case .slowConsumer(let pendingBytes):
                metadata["psepr.pendingBytes"] = "\(pendingBytes)"
                logger.log(.io, .notice, "Slow consumer disconnected: it took nothing within the write deadline", metadata: metadata)
            }
        }
        return actions
    }
}
