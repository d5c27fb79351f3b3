import Logging
import NIOCore
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRTesting
import Synchronization
import Testing

@testable import PsEPRServer

/// Keeps every log entry, for tests of what operators are told.
final class CapturedLog: Sendable {
    private let entries = Mutex<[String]>([])

    var lines: [String] { entries.withLock { $0 } }

    var logger: Logger {
        Logger(label: "psepr.captured") { _ in Handler(log: self) }
    }

    fileprivate func append(_ line: String) { entries.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            log.append("\(event.level) \(event.message)\(fields)")
        }
    }
}

@Suite("What operators are told", .serialized)
struct OperatorLogTests {
    @Test func refusedLoginsAreLoggedWithTheAddressAndTheReason() async throws {
        var accounts = AccountTable()
        accounts.set(service: "alice", password: "right", cost: .minimal)
        var configuration = EventServerConfiguration.loopback(serverName: "log.test")
        configuration.accounts = accounts
        let log = CapturedLog()
        try await EventServer.withRunning(configuration: configuration, logger: log.logger) { port, _ in
            for (service, password) in [("alice", "wrong"), ("mallory", "x")] {
                let client = try await LoadConnection.open(port: port)
                var inbound = client.inbound.makeAsyncIterator()
                try await client.send(Stork.header)
                _ = try await inbound.read(until: "</stream:features>")
                try await client.send(
                    "<iq type='set' id='x'><query xmlns='jabber:iq:auth'><username>\(service)</username><password>\(password)</password></query></iq>"
                )
                _ = await inbound.readToEnd()
            }
        }
        let refusals = log.lines.filter { $0.hasPrefix("notice Login refused") }
        #expect(refusals.count == 2, "\(log.lines)")
        #expect(
            refusals.contains {
                $0.contains("psepr.reason=wrong password") && $0.contains("psepr.service=alice")
                    && $0.contains("psepr.remote=[IPv4]127.0.0.1")
            }
        )
        #expect(
            refusals.contains { $0.contains("psepr.reason=unknown account") && $0.contains("psepr.service=mallory") }
        )
        // Nothing logged carries the account's salt or key.
        let key = String(accounts.line(for: "alice")!.split(separator: "$").last!)
        #expect(!log.lines.contains { $0.contains(key) })
    }

    @Test func aPortInUseIsNamedWithItsAddressAndParameter() async throws {
        try await withEventServer { port, _, _ in
            var configuration = EventServerConfiguration.loopback()
            configuration.clientPort = port
            do {
                _ = try await EventServer.withRunning(configuration: configuration, logger: Logger(label: "psepr.test"))
                { _, _ in
                    Issue.record("a second server bound the same port")
                }
            } catch {
                #expect(
                    "\(error)".contains(
                        "cannot listen for client connections on 127.0.0.1:\(port) (/PsEPRServer/client/XMPP/port): Address already in use"
                    ),
                    "\(error)"
                )
            }
        }
    }
}
