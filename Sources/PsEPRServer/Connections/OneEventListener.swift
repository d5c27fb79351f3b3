import Logging
import NIOCore
import NIOPosix
import PsEPRCore
import ServiceLifecycle

/// The OneEvent listener (port 23343): a sender connects, writes one
/// `<inputEvent><authentication><passwordAuth>…</passwordAuth></authentication><oneEvent><event>…</event></oneEvent></inputEvent>`
/// document and closes. The event is routed as if a logged-in client had sent it, with
/// `from/service` set to the authenticated service. A one-line `<result>` is written back;
/// legacy senders do not read it. Lease operations are refused: a sender without a connection
/// cannot hold a lease.
struct OneEventListener: Service {
    let live: LiveConfiguration
    let router: EventRouter
    let logger: Logger
    /// Senders count as unauthenticated for their connection's short life.
    let admission: AdmissionControl
    let onListening: @Sendable (SocketAddress) async -> Void

    func run() async throws {
        let configuration = live.current
        var limits = configuration.limits
        limits.maximumStanzaBytes = configuration.oneEventMaximumBytes
        try await runStanzaListener(
            host: configuration.host,
            port: configuration.oneEventPort,
            parameter: ServerSettings.Key.oneEventPort,
            mode: .document,
            limits: limits,
            admission: admission,
            logger: logger,
            onListening: onListening
        ) { await self.serve($0) }
    }

    private func serve(_ connection: NIOAsyncChannel<StreamFrame, ByteBuffer>) async {
        let configuration = live.current
        router.countConnection(.oneEvent)
        let remote = connection.channel.remoteAddress.map { "\($0)" } ?? ""
        do {
            try await connection.executeThenClose { inbound, outbound in
                let result: String = await withTaskGroup(of: String?.self) { group in
                    group.addTask {
                        do {
                            for try await frame in inbound {
                                guard case .stanza(let buffer) = frame else { continue }
                                return try accept(
                                    Array(buffer.readableBytesView),
                                    accounts: configuration.accounts,
                                    remote: remote
                                )
                            }
                            return "error: no event before the connection closed"
                        } catch {
                            return "error: \(ClientSessionMachine.plainWords(error))"
                        }
                    }
                    group.addTask {
                        try? await Task.sleep(for: .seconds(configuration.oneEventTimeoutSeconds))
                        return Task.isCancelled
                            ? nil : "error: no event within \(configuration.oneEventTimeoutSeconds) seconds"
                    }
                    let first = await group.next() ?? nil
                    group.cancelAll()
                    return first ?? "error: no event"
                }
                try? await outbound.write(ByteBuffer(string: "<result>\(XMLText.escape(result))</result>\n"))
            }
        } catch {
            logger.log(.io, .debug, "OneEvent connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Checks the document's credentials and routes its event; returns the result line.
    private func accept(_ bytes: [UInt8], accounts: AccountTable?, remote: String) throws -> String {
        let document = try ParsedElement.parse(bytes)
        guard document.localName == "inputEvent",
            let credentials = document.child("authentication")?.child("passwordAuth"),
            let service = credentials.childText("service"),
            let carrier = document.child("oneEvent")
        else { return "error: expected <inputEvent> with <authentication><passwordAuth> and <oneEvent>" }
        let check = accounts?.check(service: service, password: credentials.child("password")?.text ?? "") ?? .accepted
        guard check == .accepted else {
            logger.log(
                .io,
                .notice,
                "OneEvent login refused",
                metadata: ["psepr.service": "\(service)", "psepr.remote": "\(remote)", "psepr.reason": "\(check)"]
            )
            return "error: not authorized"
        }
        var event = try Event(element: carrier, source: bytes)
        guard event.payloadNamespace != LeaseOperation.namespace else {
            return "error: leases need a client connection"
        }
        event.fromService = service
        router.route(event, source: .oneEvent)
        return "ok"
    }
}
