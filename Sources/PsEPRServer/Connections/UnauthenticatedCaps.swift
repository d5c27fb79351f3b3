import Foundation
import Logging
import NIOCore
import Synchronization

/// Each listener's cap on unauthenticated connections, fitted to the process's file limit so the
/// client port always has room: logged-in clients, the client port's own waiting logins and a
/// reserve for log files and peer links come first, and the OneEvent and LeasePeer ports share
/// what is left (never less than 8 each). The soft file limit is raised towards the hard one
/// when that is needed.
struct UnauthenticatedCaps {
    /// The client port's cap.
    let client: Int
    /// The OneEvent and LeasePeer ports' cap, each.
    let other: Int

    /// Descriptors kept for log files, outgoing peer links and the listeners themselves.
    static let reserve = 64

    /// - Parameter fileLimit: raises the soft limit on open files towards a number and returns
    ///   the limit then in effect (nil when there is none).
    init(
        _ configuration: EventServerConfiguration,
        logger: Logger,
        fileLimit: (Int) -> Int? = FileLimit.raise(toAtLeast:)
    ) {
        let wanted = configuration.maximumUnauthenticatedConnections
        client = wanted
        let needed = configuration.maximumConnections + 3 * wanted + Self.reserve
        guard let limit = fileLimit(needed), limit < needed else {
            other = wanted
            return
        }
        other = max(8, min(wanted, (limit - configuration.maximumConnections - wanted - Self.reserve) / 2))
        logger.log(
            .badError,
            .warning,
            "The file limit (\(limit)) is below what the configured connections need (\(needed)): the OneEvent and LeasePeer ports admit \(other) unauthenticated connections each, so that client logins keep room",
            metadata: [
                "psepr.maximumConnections": "\(configuration.maximumConnections)",
                "psepr.maximumUnauthenticated": "\(wanted)",
            ]
        )
    }
}
/// The process's limit on open files.
enum FileLimit {
    /// Raises the soft limit to `wanted` (at most the hard limit) if it is lower; returns the
    /// soft limit in effect, or nil when it cannot be read or is unlimited.
    static func raise(toAtLeast wanted: Int) -> Int? {
        var limits = rlimit()
        guard getrlimit(openFiles, &limits) == 0, limits.rlim_cur != rlim_t.max else { return nil }
        if limits.rlim_cur < rlim_t(wanted) {
            var raised = limits
            raised.rlim_cur = min(rlim_t(wanted), limits.rlim_max)
            if setrlimit(openFiles, &raised) == 0 { limits = raised }
        }
        return Int(clamping: limits.rlim_cur)
    }

    #if canImport(Glibc)
    private static let openFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let openFiles = RLIMIT_NOFILE
    #endif
}
