import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PsEPRCore
import ServiceLifecycle
import Synchronization

/// Open client connections, against `maximumConnections`.
final class ConnectionCount: Sendable {
    private let count = Mutex(0)

    /// Counts one more connection unless `maximum` are open already.
    func admit(maximum: Int) -> Bool {
        count.withLock { count in
            guard count < maximum else { return false }
            count += 1
            return true
        }
    }

    func release() { count.withLock { $0 -= 1 } }
}
