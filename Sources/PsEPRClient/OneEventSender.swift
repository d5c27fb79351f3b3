import NIOCore
import NIOPosix
public import PsEPRCore

/// Sends single events over the OneEvent port (23343): connect, write one `<inputEvent>` with
/// the credentials inline, read the server's one-line `<result>`, close. No login, no lease.
public enum OneEventSender {
    /// Why an event was not accepted.
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// The server's words.
        public let reason: String
        /// Creates a refusal.
        public init(reason: String) { self.reason = reason }
        public var description: String { "the server refused the event: \(reason)" }
    }

    /// Sends `event` as `identity` to `server` (whose port is the OneEvent port).
    ///
    /// - Returns: `true` when the server confirmed it, `false` when it closed without a word
    ///   (the original's servers never answered).
    /// - Throws: ``Refusal`` with the server's reason, or the connection's error.
    @discardableResult
    public static func send(
        _ event: Event,
        as identity: ServiceIdentity,
        to server: ServerAddress,
        timeout: Duration = .seconds(30)
    ) async throws -> Bool {
        var event = event
        if event.fromService == nil { event.fromService = identity.service }
        if event.fromInstance == nil { event.fromInstance = identity.instance }
        let document = ClientStanzas.oneEvent(event, service: identity.service, password: identity.password)
        let nanoseconds = timeout.nanoseconds
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(nanoseconds))
            .connect(host: server.host, port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let reply: String = try await channel.executeThenClose { inbound, outbound in
            let watchdog = channel.channel.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
                channel.channel.close(promise: nil)
            }
            defer { watchdog.cancel() }
            try await outbound.write(ByteBuffer(bytes: document))
            var text = ""
            for try await chunk in inbound {
                text += String(buffer: chunk)
                if text.contains("</result>") || text.utf8.count > 4096 { break }
            }
            return text
        }
        guard let result = try? ParsedElement.parse(Array(reply.utf8)), result.localName == "result" else {
            return false
        }
        guard result.text == "ok" else {
            let reason = result.text.hasPrefix("error: ") ? String(result.text.dropFirst(7)) : result.text
            throw Refusal(reason: reason)
        }
        return true
    }
}
