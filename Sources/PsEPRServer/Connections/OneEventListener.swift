import Logging
import NIOCore
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
        let limits = {
            var limits = configuration.limits
            limits.maximumStanzaBytes = configuration.oneEventMaximumBytes
            return limits
        }()
        let (live, router, logger) = (self.live, self.router, self.logger)
        let server = try await bindListener(
            admission: admission,
            host: configuration.host,
            port: configuration.oneEventPort,
            parameter: ServerSettings.Key.oneEventPort,
            logger: logger,
            onListening: onListening
        ) { channel in
            let configuration = live.current
            let handlers = channel.pipeline.syncOperations
            try handlers.addHandler(ByteToMessageHandler(XMLStreamFramer(mode: .document, limits: limits)))
            try handlers.addHandler(
                OneEventHandler(
                    accounts: configuration.accounts,
                    timeoutSeconds: configuration.oneEventTimeoutSeconds,
                    router: router,
                    logger: logger
                )
            )
        }
        try await serveUntilShutdown(server)
        // Senders still writing are unauthenticated, so the admission control holds them all.
        admission.closeAll()
    }
}
