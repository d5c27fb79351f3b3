#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// systemd's readiness protocol (`Type=notify`): one datagram such as `READY=1` to the Unix socket
/// named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Without the variable
/// (not started by systemd) every call does nothing.
public struct ReadinessNotifier: Sendable {
    /// The socket's address as given, or nil when not under a service manager.
    public let socketPath: String?

    /// A notifier for `environment`'s `NOTIFY_SOCKET`.
    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The listeners are bound and the service is up.
    @discardableResult
    public func ready(status: String) -> Bool { send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }

    /// A reload (SIGHUP) has begun.
    @discardableResult
    public func reloading() -> Bool { send("RELOADING=1") }

    /// The reload is done.
    @discardableResult
    public func reloaded() -> Bool { send("READY=1") }

    /// Shutdown has begun.
    @discardableResult
    public func stopping() -> Bool { send("STOPPING=1") }

    /// Sends one notification; false when there is no socket or sending failed (systemd then
    /// times the service out, which is the visible failure).
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let socketPath else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        // `@name`: Linux's abstract namespace, written with a leading NUL.
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.enumerated() { buffer[index] = byte }
        }
        #if canImport(Darwin)
        let descriptor = socket(AF_UNIX, SOCK_DGRAM, 0)
        #else
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let sent = Array(message.utf8).withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, length)
                }
            }
        }
        return sent == message.utf8.count
    }
}
