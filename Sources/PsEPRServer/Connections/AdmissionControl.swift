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
                .io,
                .info,
                "Closing the longest-waiting unauthenticated connection to make room",
                metadata: [
                    "psepr.listener": "\(listener)", "psepr.remote": "\(evicted.remoteAddress.map { "\($0)" } ?? "")",
                    "psepr.maximum": "\(capacity)",
                ]
            )
            evicted.close(promise: nil)
        }
    }

    /// `channel` no longer counts: it authenticated or closed.
    func release(_ channel: any Channel) {
        _ = state.withLock { $0.waiting.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Closes every connection waiting now (at shutdown).
    func closeAll() {
        let waiting = state.withLock { $0.waiting.values.map(\.channel) }
        for channel in waiting { channel.close(promise: nil) }
    }

    /// Connections waiting now.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Connections closed to make room so far.
    var evictedCount: Int { state.withLock { $0.evicted } }
}
/// Sent down a pipeline (`triggerUserOutboundEvent`) by a protocol handler once its connection
/// has authenticated, so that it stops counting against the listener's cap.
struct ConnectionAuthenticated: Sendable {}
