import NIOCore
import Synchronization

/// One connection's counters, for status reports: an open one's now, a closed one's last.
struct ConnectionStatus {
    let session: SessionID
    let role: ConnectionRole
    let account: String?
    let remote: String
    let received: Int
    let delivered: Int
    let dropped: Int
    let queued: Int
    let pendingBytes: Int
    let leases: Int
    let bytesReceived: Int
    let bytesSent: Int

    init(session: SessionID, queue: OutboundQueue, leases: Int) {
        let counters = queue.counters
        self.session = session
        role = queue.role
        account = queue.account
        remote = queue.channel.remoteAddress.map { "\($0)" } ?? ""
        received = queue.received.load(ordering: .relaxed)
        delivered = counters.delivered
        dropped = counters.dropped
        queued = counters.queued
        pendingBytes = counters.pendingBytes
        self.leases = leases
        bytesReceived = queue.bytesReceived.load(ordering: .relaxed)
        bytesSent = queue.bytesSent.load(ordering: .relaxed)
    }
}
