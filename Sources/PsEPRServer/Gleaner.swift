import Logging
import ServiceLifecycle

/// Sweeps expired leases out of the route table every few seconds. (Expired leases already
/// match nothing; the sweep frees their memory.) Closed connections drop their leases at once.
struct Gleaner: Service {
    let router: EventRouter
    let periodSeconds: Double
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(periodSeconds))
                let removed = router.removeExpiredLeases()
                if removed > 0 { logger.log(.gleaner, .debug, "Gleaned expired leases", metadata: ["psepr.leases": "\(removed)"]) }
            }
        }
    }
}
