import Foundation
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
public import PsEPRCore
public import ServiceLifecycle

/// A PsEPR client: one connection to one server of a list, carrying any number of leases.
///
/// ``run()`` connects (a random server of the list; back-off with jitter between attempts),
/// logs in, re-requests every lease after each reconnection, renews leases before they run
/// out, and keeps the connection alive. Use ``withClient(identity:servers:options:logger:_:)``
/// for a scoped client, or run it as a `Service` in a `ServiceGroup`.
public actor EventClient: Service {
    /// Connection and lease settings.
    public struct Options: Sendable {
        /// Give up on one connection attempt after this long (the original's 30 s).
        public var connectTimeout: Duration = .seconds(30)
        /// Time allowed for the login exchange.
        public var loginTimeout: Duration = .seconds(30)
        /// First pause between failed attempts (the original slept 1 s); doubles up to ``maximumBackoff``.
        public var initialBackoff: Duration = .seconds(1)
        /// Longest pause between attempts.
        public var maximumBackoff: Duration = .seconds(30)
        /// Lease request and renewal timing.
        public var leaseTiming = LeaseTiming()
        /// A single space is sent after this long without writing, so idle timeouts never strike.
        public var keepAliveInterval: Duration = .seconds(60)
        /// Events buffered per lease for a slow consumer; the oldest go first.
        public var eventBufferSize = 10_000
        /// How often lease timers and keep-alives are checked.
        public var timerResolution: Duration = .milliseconds(250)
        /// Bounds on stanzas from the server.
        public var limits = XMLStreamFramer.Limits()
        /// STARTTLS and certificate verification.
        public var tls = ClientTLSOptions()
        /// Stop, with ``ClientError/unreachable(after:lastError:)``, once no server has been
        /// logged in to for this long (from the start, or from the last connection's end);
        /// `nil` keeps trying for ever.
        public var giveUpAfter: Duration?

        /// The defaults.
        public init() {}
    }

    /// What can go wrong for a caller.
    public enum ClientError: Error, Hashable, Sendable, CustomStringConvertible {
        /// No connection is up now.
        case notConnected
        /// The server refused the service name or password; the client stops.
        case authenticationFailed(server: String)
        /// The client was closed.
        case closed
        /// The server answered the login with something unexpected.
        case protocolViolation(String)
        /// TLS is required (``ClientTLSOptions/Mode/required``) and the server does not offer it.
        case tlsUnavailable(server: String)
        /// No server could be logged in to for ``Options/giveUpAfter``; the last attempt's error.
        case unreachable(after: Duration, lastError: String)

        public var description: String {
            switch self {
            case .notConnected: return "not connected to a PsEPR server"
            case .authenticationFailed(let server): return "\(server) refused the service name or password"
            case .closed: return "the client is closed"
            case .protocolViolation(let what): return "unexpected login reply: \(what)"
            case .tlsUnavailable(let server): return "\(server) does not offer TLS, which this client requires"
            case .unreachable(let after, let lastError):
                return "no PsEPR server reached for \(after.components.seconds) s; last: \(lastError)"
            }
        }
    }

    /// Who the client logs in as.
    public nonisolated let identity: ServiceIdentity
    /// The servers to choose from.
    public nonisolated let servers: [ServerAddress]
    /// The settings.
    public nonisolated let options: Options
    private let logger: Logger
    /// Times lease renewals, answer timeouts, keep-alives and reconnection pauses.
    private let clock: any Clock<Duration>
    /// Time on ``clock`` since the client was made.
    private let elapsedTime: @Sendable () -> Duration

    private struct Record {
        let lease: Lease
        var machine: LeaseMachine
    }

    private var leases: [String: Record] = [:]
    private var connection:
        (channel: any Channel, writer: NIOAsyncChannelOutboundWriter<ByteBuffer>, server: ServerAddress)?
    private var lastWrite: Duration = .zero
    private var messageNumber = 0
    private var isClosed = false
    private var terminalError: (any Error)?
    private var connectionWaiters: [CheckedContinuation<Void, any Error>] = []
    /// Finishes when the client closes; ``run()`` watches it (cancellation ends the watch too).
    private let closed: AsyncStream<Void>
    private let closedSink: AsyncStream<Void>.Continuation
    /// Logins completed, the first included.
    public private(set) var connectionCount = 0

    /// Creates a client; nothing happens until ``run()``.
    public init(
        identity: ServiceIdentity,
        servers: [ServerAddress],
        options: Options = Options(),
        logger: Logger = Logger(label: "psepr.client"),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        precondition(!servers.isEmpty, "a PsEPR client needs at least one server")
        self.identity = identity
        self.servers = servers
        self.options = options
        self.logger = logger
        self.clock = clock
        self.elapsedTime = Self.stopwatch(on: clock)
        (closed, closedSink) = AsyncStream.makeStream(of: Void.self)
    }

    /// Runs `body` with a connected client, then closes it.
    ///
    /// - Throws: ``ClientError/authenticationFailed(server:)`` when the login is refused, or
    ///   what `body` throws.
    public static func withClient<Result>(
        identity: ServiceIdentity,
        servers: [ServerAddress],
        options: Options = Options(),
        logger: Logger = Logger(label: "psepr.client"),
        _ body: (EventClient) async throws -> Result
    ) async throws -> Result {
        let client = EventClient(identity: identity, servers: servers, options: options, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            do {
                try await client.waitUntilConnected()
                let result = try await body(client)
                await client.close()
                try await group.waitForAll()
                return result
            } catch {
                await client.close()
                group.cancelAll()
                throw error
            }
        }
    }

    /// The server the client is connected to, if any.
    public var connectedServer: ServerAddress? { connection?.server }

    /// Returns once the client is logged in to a server.
    ///
    /// - Throws: ``ClientError/closed`` or the error that stopped the client, or `CancellationError`.
    public func waitUntilConnected() async throws {
        if connection != nil { return }
        if let terminalError { throw terminalError }
        if isClosed { throw ClientError.closed }
        try await withCheckedThrowingContinuation { connectionWaiters.append($0) }
    }

    // MARK: Running

    /// Connects and stays connected until ``close()`` or cancellation.
    ///
    /// - Throws: ``ClientError/authenticationFailed(server:)`` when a server refuses the login.
    public func run() async throws {
        defer { finish(ClientError.closed) }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.runTimers() }
                group.addTask { try await self.runConnections() }
                // close() ends the run at once, even in the middle of a back-off pause.
                group.addTask { await self.waitUntilClosed() }
                try await group.next()
                group.cancelAll()
            }
        } catch is CancellationError {
            return
        } catch {
            terminalError = error
            finish(error)
            throw error
        }
    }

    private func runConnections() async throws {
        var failures = 0
        // Since when no server has been logged in to.
        var unconnectedSince = elapsed
        while !isClosed {
            for server in servers.shuffled() where !isClosed {
                let loginsBefore = connectionCount
                var lastError = "the connection ended"
                do {
                    try await session(with: server)
                } catch let error as ClientError {
                    switch error {
                    case .authenticationFailed, .tlsUnavailable: throw error
                    default: lastError = "\(error)"
                    }
                } catch {
                    try Task.checkCancellation()
                    lastError = Self.plainReason(error)
                }
                if isClosed { return }
                let loggedIn = connectionCount > loginsBefore
                if loggedIn { unconnectedSince = elapsed }
                // After a session that logged in, start the back-off afresh; a server that
                // keeps failing is tried less and less often.
                failures = loggedIn ? 1 : failures + 1
                var pause = backoff(after: failures)
                if let limit = options.giveUpAfter {
                    let waited = elapsed - unconnectedSince
                    guard waited < limit else {
                        throw ClientError.unreachable(after: limit, lastError: "\(server): \(lastError)")
                    }
                    pause = min(pause, limit - waited)
                }
                logger.log(
                    level: loggedIn ? .warning : .notice,
                    loggedIn ? "Lost the PsEPR server; reconnecting" : "Cannot log in to a PsEPR server; trying again",
                    metadata: [
                        "psepr.server": "\(server)", "psepr.reason": "\(lastError)",
                        "psepr.retryInSeconds":
                            "\(String(format: "%.1f", Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18))",
                    ]
                )
                try await clock.sleep(for: pause)
            }
        }
    }

    /// The operating system's words for a socket error, TLS's for a handshake, else the error's own.
    static func plainReason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? NIOConnectionError {
            // Each address tried failed: the last one's reason, or the name did not resolve.
            return error.connectionErrors.last.map { plainReason($0.error) }
                ?? "\(error.host) did not resolve to an address"
        }
        if error is NIOSSLError || error is NIOSSLExtraError {
            // BoringSSL's text names source files; the cause in plain words is enough.
            let text = "\(error)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "TLS failed: the server's certificate is not trusted"
            }
            if text.contains("Hostname") || text.contains("hostname") {
                return "TLS failed: the server's certificate is not valid for this host"
            }
            return "TLS failed: the handshake did not complete"
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "the connection timed out" }
        return "\(error)"
    }

    /// Exponential back-off from the initial pause up to the maximum, with half of it random
    /// so that many clients do not return in step.
    private func backoff(after failures: Int) -> Duration {
        Backoff(initial: options.initialBackoff, maximum: options.maximumBackoff).pause(after: failures)
    }

    private func session(with server: ServerAddress) async throws {
        let limits = options.limits
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(options.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: server.host, port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RestartableStreamFramer(limits: limits))
                    return try NIOAsyncChannel<StreamFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            // A server that stalls the login is cut off, so the next server gets its turn.
            let watchdog = channel.channel.eventLoop.scheduleTask(in: .nanoseconds(options.loginTimeout.nanoseconds)) {
                channel.channel.close(promise: nil)
            }
            try await Self.logIn(
                identity: identity,
                host: server.host,
                frames: &frames,
                writer: outbound,
                tls: options.tls,
                channel: channel.channel
            )
            watchdog.cancel()
            try await connected(channel: channel.channel, writer: outbound, server: server)
            defer { disconnected() }
            while let frame = try await frames.next() {
                switch frame {
                case .stanza(let buffer): try await receive(buffer)
                case .streamClosed: return
                case .streamOpened: continue
                }
            }
        }
    }

    /// The login: stream header, then `jabber:iq:auth` get and set, waiting for each answer.
    ///
    /// The stream features (which the original's servers do not send) arrive with the header,
    /// before the answer to the get. When they offer STARTTLS and `tls` is given, TLS starts
    /// there: `<starttls/>`, `<proceed/>`, the handshake (verifying the server's certificate
    /// for `host`), a new stream inside TLS, then the set.
    private static func logIn(
        identity: ServiceIdentity,
        host: String,
        frames: inout NIOAsyncChannelInboundStream<StreamFrame>.AsyncIterator,
        writer: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        tls: ClientTLSOptions,
        channel: any Channel
    ) async throws {
        try await openStream(host: host, frames: &frames, writer: writer)
        try await writer.write(
            ByteBuffer(bytes: ClientStanzas.authenticationQuery(id: "logon_1", service: identity.service))
        )
        let (_, offersTLS) = try await reply(to: "logon_1", frames: &frames)
        if tls.mode != .disabled {
            guard offersTLS else {
                if tls.mode == .required { throw ClientError.tlsUnavailable(server: host) }
                return try await authenticate(identity: identity, host: host, frames: &frames, writer: writer)
            }
            try await writer.write(ByteBuffer(bytes: ClientStanzas.startTLS))
            guard case .stanza(let answer)? = try await frames.next(),
                let element = try? ParsedElement.parse(answer.readableBytesView), element.localName == "proceed"
            else {
                throw ClientError.protocolViolation("the server offered STARTTLS and then refused it")
            }
            // Nothing more comes in the clear: TLS goes in front, and framing starts afresh.
            let context = try tls.makeContext()
            let handshake = channel.eventLoop.makePromise(of: Void.self)
            try await channel.eventLoop.submit {
                let hostname = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
                let tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: hostname)
                let handlers = channel.pipeline.syncOperations
                try handlers.addHandler(tlsHandler, position: .first)
                try handlers.addHandler(TLSHandshakeWatcher(done: handshake), position: .after(tlsHandler))
                channel.triggerUserOutboundEvent(RestartStreamFraming(), promise: nil)
            }.get()
            try await handshake.futureResult.get()
            try await openStream(host: host, frames: &frames, writer: writer)
        }
        try await authenticate(identity: identity, host: host, frames: &frames, writer: writer)
    }

    /// Sends the stream header and waits for the server's.
    private static func openStream(
        host: String,
        frames: inout NIOAsyncChannelInboundStream<StreamFrame>.AsyncIterator,
        writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws {
        try await writer.write(ByteBuffer(bytes: ClientStanzas.streamHeader(to: host)))
        while true {
            guard let frame = try await frames.next() else {
                throw ClientError.protocolViolation("closed before the stream header")
            }
            if case .streamOpened = frame { return }
        }
    }

    /// The `jabber:iq:auth` set.
    private static func authenticate(
        identity: ServiceIdentity,
        host: String,
        frames: inout NIOAsyncChannelInboundStream<StreamFrame>.AsyncIterator,
        writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws {
        try await writer.write(
            ByteBuffer(
                bytes: ClientStanzas.authenticate(
                    id: "logon_2",
                    service: identity.service,
                    password: identity.password,
                    instance: identity.instance
                )
            )
        )
        let (answer, _) = try await reply(to: "logon_2", frames: &frames)
        guard answer.attributes["type"] == "result" else {
            let reason = answer.child("error")?.childText("text")
            if let reason, answer.child("error")?.child("policy-violation") != nil {
                throw ClientError.protocolViolation(reason)
            }
            throw ClientError.authenticationFailed(server: host)
        }
    }

    /// The `<iq>` answering `id`, skipping stream features and anything else before it; and
    /// whether the features skipped offered STARTTLS.
    private static func reply(
        to id: String,
        frames: inout NIOAsyncChannelInboundStream<StreamFrame>.AsyncIterator
    ) async throws -> (ParsedElement, offersTLS: Bool) {
        var offersTLS = false
        while let frame = try await frames.next() {
            switch frame {
            case .stanza(let buffer):
                let element = try ParsedElement.parse(buffer.readableBytesView)
                if element.localName == "features", element.child("starttls") != nil { offersTLS = true }
                if element.localName == "iq", element.attributes["id"] == id { return (element, offersTLS) }
            case .streamClosed:
                throw ClientError.protocolViolation("the server ended the stream during the login")
            case .streamOpened:
                continue
            }
        }
        throw ClientError.protocolViolation("closed during the login")
    }

    private func connected(
        channel: any Channel,
        writer: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        server: ServerAddress
    ) async throws {
        guard !isClosed else { throw ClientError.closed }
        connection = (channel, writer, server)
        connectionCount += 1
        logger.log(level: .info, "Connected to a PsEPR server", metadata: ["psepr.server": "\(server)"])
        let waiters = connectionWaiters
        connectionWaiters = []
        for waiter in waiters { waiter.resume() }
        let now = elapsed
        for identifier in Array(leases.keys) {
            try await apply(identifier) { $0.reconnected(now: now) }
        }
    }

    private func disconnected() {
        connection = nil
    }

    private func waitUntilClosed() async {
        for await _ in closed {}
    }

    private func finish(_ error: any Error) {
        let waiters = connectionWaiters
        connectionWaiters = []
        for waiter in waiters { waiter.resume(throwing: error) }
        closedSink.finish()
        isClosed = true
        for record in leases.values where !record.lease.state.isFinal {
            record.lease.update(.lost(reason: "the client stopped"))
        }
        leases = [:]
    }

    // MARK: Inbound

    private func receive(_ buffer: ByteBuffer) async throws {
        // Events in the usual shape are read straight from the bytes; the rest get the full parser.
        if case .event(let event) = buffer.withUnsafeReadableBytes({ EventScanner.scan($0) }) {
            return try await receive(event)
        }
        let bytes = Array(buffer.readableBytesView)
        let element = try ParsedElement.parse(bytes)
        guard element.localName == "message" else { return }
        if element.attributes["type"] == "error" {
            let text = element.child("error")?.childText("text") ?? "no reason given"
            logger.log(
                level: .warning,
                "The PsEPR server rejected a message",
                metadata: ["psepr.id": "\(element.attributes["id"] ?? "")", "psepr.reason": "\(text)"]
            )
            return
        }
        guard let event = try? Event(element: element, source: bytes) else { return }
        try await receive(event)
    }

    private func receive(_ event: Event) async throws {
        if let operation = try? event.leaseOperation() {
            let now = elapsed
            switch operation.operation {
            case .lease:
                try await apply(operation.identifier) { machine in
                    machine.granted(seconds: operation.duration ?? machine.timing.defaultDurationSeconds, now: now)
                    return []
                }
            case .refused:
                try await apply(operation.identifier) { machine in
                    machine.refused(reason: operation.reason ?? "no reason given")
                    return []
                }
            case .register, .unregister:
                break
            }
            return
        }
        for record in leases.values where record.lease.matches(event) {
            record.lease.deliver(event)
        }
    }

    // MARK: Leases

    /// Takes a lease on `channel` (and everything below it), limited to payloads in `namespace`
    /// when given. The request goes out now if connected, else on connection.
    public func lease(_ channel: ChannelName, namespace: String? = nil, seconds: Int? = nil) async throws -> Lease {
        guard !isClosed else { throw terminalError ?? ClientError.closed }
        let identifier = RandomText.alphanumeric(16)
        let lease = Lease(
            identifier: identifier,
            channel: channel,
            namespaceFilter: namespace,
            requestedSeconds: seconds ?? options.leaseTiming.defaultDurationSeconds,
            bufferSize: options.eventBufferSize,
            client: self
        )
        leases[identifier] = Record(lease: lease, machine: LeaseMachine(timing: options.leaseTiming))
        let now = elapsed
        try await apply(identifier) { machine in
            let outputs = machine.start(now: now)
            return connection == nil ? [] : outputs
        }
        return lease
    }

    func release(_ lease: Lease) async {
        try? await apply(lease.identifier) { $0.release() }
    }

    /// Runs one transition of a lease's machine, sends what it asks for, and reports the new state.
    private func apply(_ identifier: String, _ transition: (inout LeaseMachine) -> [LeaseMachine.Output]) async throws {
        guard var record = leases[identifier] else { return }
        let outputs = transition(&record.machine)
        let state = record.machine.state
        if state.isFinal { leases[identifier] = nil } else { leases[identifier] = record }
        for output in outputs {
            let operation: LeaseOperation.Operation = output == .sendRegister ? .register : .unregister
            let request = LeaseOperation(
                operation: operation,
                identifier: identifier,
                duration: operation == .register ? record.lease.requestedSeconds : nil,
                namespaceFilter: operation == .register ? record.lease.namespaceFilter : nil
            )
            let event = Event(
                channel: record.lease.channel,
                toService: "psepr_registry",
                payloadNamespace: LeaseOperation.namespace,
                payload: request.payloadBytes
            )
            // Without a connection the request is simply not sent; the timer or the next
            // connection sends it again.
            try? await send(event)
        }
        record.lease.update(state)
    }

    private func runTimers() async throws {
        while !isClosed {
            try await clock.sleep(for: options.timerResolution)
            try await tick()
        }
    }

    private func tick() async throws {
        let now = elapsed
        for identifier in Array(leases.keys) {
            try await apply(identifier) { $0.tick(now: now) }
        }
        if let connection, now - lastWrite >= options.keepAliveInterval {
            lastWrite = now
            try? await connection.writer.write(ByteBuffer(string: " "))
        }
    }

    // MARK: Outbound

    /// Sends an event. `from` is filled in from the identity where the event leaves it empty.
    ///
    /// - Throws: ``ClientError/notConnected`` when no connection is up (events are not queued:
    ///   delivery is at most once, as in the original).
    public func send(_ event: Event) async throws {
        guard let connection else { throw isClosed ? ClientError.closed : ClientError.notConnected }
        var event = event
        if event.fromService == nil { event.fromService = identity.service }
        if event.fromInstance == nil { event.fromInstance = identity.instance }
        messageNumber += 1
        lastWrite = elapsed
        try await connection.writer.write(ByteBuffer(bytes: StanzaEncoder.message(event, id: "m\(messageNumber)")))
    }

    /// Releases every lease, ends the stream and stops ``run()``.
    public func close() async {
        guard !isClosed else { return }
        for identifier in Array(leases.keys) {
            try? await apply(identifier) { $0.release() }
        }
        isClosed = true
        if let connection {
            try? await connection.writer.write(ByteBuffer(bytes: StanzaEncoder.streamEnd))
            connection.writer.finish()
            try? await connection.channel.close()
        }
        finish(ClientError.closed)
    }

    private var elapsed: Duration { elapsedTime() }

    /// A reading of the time passed on `clock` since now.
    private static func stopwatch<C: Clock<Duration>>(on clock: C) -> @Sendable () -> Duration {
        let start = clock.now
        return { start.duration(to: clock.now) }
    }

}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
