import Foundation
import Logging
import NIOCore
import Synchronization

/// Connections on one listener that have not authenticated yet, held to a cap.
///
/// Every listener (client, OneEvent, LeasePeer) puts an ``AdmissionHandler`` first in each
/// connection's pipeline. A connection counts against its listener's cap from accept until its
/// protocol handler reports it authenticated (``ConnectionAuthenticated``) or it closes. When
/// the cap is reached, the connection that has waited longest is closed to make room: idle
/// connections are pushed out by new ones under pressure instead of holding the port (or the
/// server's file descriptors) until their login timeout, while a real client, which logs in
/// within a round trip or two, is almost never the oldest.
final class AdmissionControl: Sendable {
    /// The listener's name, for the log.
    let listener: String
    /// Most unauthenticated connections at once.
    let capacity: Int
    private let logger: Logger

    private struct State {
        /// Waiting connections by identity, with their arrival number.
        var waiting: [ObjectIdentifier: (arrival: UInt64, channel: any Channel)] = [:]
        /// Arrival order; entries of connections no longer waiting are skipped and compacted away.
        var order = CircularBuffer<(arrival: UInt64, id: ObjectIdentifier)>()
        var nextArrival: UInt64 = 0
        var evicted = 0
    }

    private let state = Mutex(State())

    init(listener: String, capacity: Int, logger: Logger) {
        self.listener = listener
        self.capacity = max(1, capacity)
        self.logger = logger
    }

    /// Counts `channel` as waiting, closing the longest-waiting connection if the cap is reached.
    func admit(_ channel: any Channel) {
        let evicted: (any Channel)? = state.withLock { state in
            var evicted: (any Channel)?
            if state.waiting.count >= capacity {
                while let oldest = state.order.popFirst() {
                    guard let entry = state.waiting[oldest.id], entry.arrival == oldest.arrival else { continue }
                    state.waiting[oldest.id] = nil
                    state.evicted += 1
                    evicted = entry.channel
                    break
                }
            }
            let arrival = state.nextArrival
            state.nextArrival += 1
            state.waiting[ObjectIdentifier(channel)] = (arrival, channel)
            state.order.append((arrival, ObjectIdentifier(channel)))
            // Connections that authenticated or closed leave entries behind: drop them now and then.
            if state.order.count > 2 * capacity + 16 {
                state.order = CircularBuffer(state.order.filter { state.waiting[$0.id]?.arrival == $0.arrival })
            }
            return evicted
        }
        if let evicted {
            logger.log(
                .io, .info, "Closing the longest-waiting unauthenticated connection to make room",
                metadata: ["psepr.listener": "\(listener)", "psepr.remote": "\(evicted.remoteAddress.map { "\($0)" } ?? "")", "psepr.maximum": "\(capacity)"]
            )
            evicted.close(promise: nil)
        }
    }

    /// `channel` no longer counts: it authenticated or closed.
    func release(_ channel: any Channel) {
        _ = state.withLock { $0.waiting.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Connections waiting now.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Connections closed to make room so far.
    var evictedCount: Int { state.withLock { $0.evicted } }
}

/// Sent down a pipeline (`triggerUserOutboundEvent`) by a protocol handler once its connection
/// has authenticated, so that it stops counting against the listener's cap.
struct ConnectionAuthenticated: Sendable {}

/// The first handler of every accepted connection: counts it in its listener's
/// ``AdmissionControl`` until it authenticates or closes.
final class AdmissionHandler: ChannelDuplexHandler {
    // Bytes pass through untouched.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let admission: AdmissionControl
    private var counted = false

    init(admission: AdmissionControl) {
        self.admission = admission
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        admission.admit(context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        admission.release(context.channel)
        context.fireChannelInactive()
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ConnectionAuthenticated else { return context.triggerUserOutboundEvent(event, promise: promise) }
        admission.release(context.channel)
        promise?.succeed()
    }
}

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
    init(_ configuration: EventServerConfiguration, logger: Logger, fileLimit: (Int) -> Int? = FileLimit.raise(toAtLeast:)) {
        let wanted = configuration.maximumUnauthenticatedConnections
        client = wanted
        let needed = configuration.maximumConnections + 3 * wanted + Self.reserve
        guard let limit = fileLimit(needed), limit < needed else {
            other = wanted
            return
        }
        other = max(8, min(wanted, (limit - configuration.maximumConnections - wanted - Self.reserve) / 2))
        logger.log(
            .badError, .warning,
            "The file limit (\(limit)) is below what the configured connections need (\(needed)): the OneEvent and LeasePeer ports admit \(other) unauthenticated connections each, so that client logins keep room",
            metadata: ["psepr.maximumConnections": "\(configuration.maximumConnections)", "psepr.maximumUnauthenticated": "\(wanted)"]
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
