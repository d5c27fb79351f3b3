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
                if removed > 0 {
                    logger.log(.gleaner, .debug, "Gleaned expired leases", metadata: ["psepr.leases": "\(removed)"])
                }
                let reaped = router.reapClosedConnections()
                if reaped > 0 {
                    logger.log(
                        .gleaner,
                        .info,
                        "Reaped closed connections",
                        metadata: ["psepr.connections": "\(reaped)"]
                    )
                }
            }
        }
    }
}
