import Foundation
import NIOCore
import PsEPRCore

/// One client connection's protocol logic: framing, stream header, login, events and lease
/// operations. Pure: the bytes of each socket read in (``read(_:into:)``, the one entry point),
/// what to do out, in order, to a ``ClientSessionSink``; the connection carries it out.
///
/// The machine owns the framer and the unfinished stanza between reads, restarts the stream
/// after SASL and drops what follows `<starttls/>` in the same read. Events in the usual shape
/// are cut and read in one pass (``EventScanner/scanLeading(_:limits:recentChannel:copyPayload:memo:)``);
/// when one repeats the envelope of the event before it (a publisher's usual case), what was
/// derived from that envelope is routed again without building an ``Event``.
///
/// Two logins lead to the same session:
/// - legacy `jabber:iq:auth` (XEP-0078), the original's, which Stork and xmpppy use: the
///   resource given with the password is the instance;
/// - the RFC 6120 one standard libraries use: SASL PLAIN, a stream restart, then resource
///   binding (the bound resource is the instance) and, if the client asks, a session.
///
/// STARTTLS (RFC 6120 §5) comes before either when the server has a certificate; a server that
/// requires TLS refuses both logins on a plain stream, saying why.
///
/// Each step of the login gets exactly one reply, as its own write, because naive clients (the
/// Stork client) advance one step per chunk they receive.
struct ClientSessionMachine {
    enum Phase: Equatable {
        case awaitingStream
        case awaitingAuthentication
        /// SASL PLAIN began without credentials; they come in a `<response>`.
        case awaitingSASLResponse
        /// SASL succeeded; the client opens a new stream next.
        case awaitingRestart(service: String)
        /// On the stream after SASL: events wait until a resource is bound.
        case awaitingBind(service: String)
        case authenticated(service: String, instance: String?)
        case closed
    }

    /// What the connection offers of TLS.
    enum TLSPolicy: Equatable {
        /// No certificate is configured: no STARTTLS.
        case unavailable
        /// STARTTLS is offered; plain logins are accepted too.
        case offered
        /// STARTTLS is offered and logins on a plain stream are refused.
        case required
    }

    enum Action: Equatable {
        /// Send these bytes as one write.
        case send([UInt8])
        /// Route an event to the subscribers of its channel; `forwarding` is its `<event>`
        /// element, a slice of the read, when it can be sent on as it came. Handed to
        /// ``ClientSessionSink/route(_:envelope:forwarding:)``, never to `perform`.
        case route(Event, forwarding: ByteBuffer?)
        /// Take or renew a lease for this connection (logged in as `service`, `instance`), then grant it.
        case register(LeaseOperation, channel: ChannelName, service: String, instance: String?)
        /// Release a lease of this connection.
        case unregister(identifier: String)
        /// `<proceed/>` is queued before this: once it is written, run TLS on the connection.
        /// The machine drops what the client sent after `<starttls/>` (RFC 6120 §5.4.3.3) and
        /// frames a new stream, which begins inside TLS.
        case startTLS
        /// The client logged in (or logged in again, legacy style) as `service`.
        case loggedIn(service: String)
        /// A login was refused, for the log (the client is told only that it was refused).
        case loginRefused(service: String, reason: String)
        /// The stream broke (not well-formed between stanzas, a DOCTYPE, a stanza over a limit),
        /// for the log; the error and the stream's end are sent next, then the close.
        case badXML(String)
        /// Close the connection (after sending what came before).
        case close(reason: String)
    }

    private(set) var phase = Phase.awaitingStream
    let serverName: String
    /// The current stream's ID; a restarted stream gets a new one.
    private(set) var streamID: String
    let accounts: AccountTable?
    let tls: TLSPolicy
    /// Whether TLS runs on the connection (after STARTTLS).
    private(set) var isEncrypted = false
    private var refusedLogins = 0
    private let makeStreamID: @Sendable () -> String
    /// The framer's bounds, also those of the one-pass reads.
    let limits: XMLStreamFramer.Limits
    private var framer: XMLStreamFramer
    /// Bytes of an unfinished stanza, kept until the rest arrives; after a pause, everything the
    /// read had left.
    private var unframed: ByteBuffer?
    /// Set when the last read stopped because the sink asked it to (``ClientSessionSink/shouldPauseReading()``):
    /// whole stanzas may wait in ``unframed`` for ``resume(into:)``.
    private(set) var paused = false
    /// Set by a SASL success: the client's next bytes open a new stream.
    private var restartRequested = false
    /// Set once the sink said the connection is closing, or the stream ended: nothing more is read.
    private(set) var halted = false

    /// SASL attempts refused before the connection is closed (RFC 6120 §6.4.5 asks for 2 to 5).
    static let maximumRefusedLogins = 3

    init(
        serverName: String,
        accounts: AccountTable?,
        tls: TLSPolicy = .unavailable,
        limits: XMLStreamFramer.Limits = XMLStreamFramer.Limits(),
        makeStreamID: @escaping @Sendable () -> String = { RandomText.alphanumeric(12) }
    ) {
        self.limits = limits
        self.framer = XMLStreamFramer(mode: .stream, limits: limits)
        self.serverName = serverName
        self.accounts = accounts
        self.tls = tls
        self.makeStreamID = makeStreamID
        self.streamID = makeStreamID()
    }

    var isAuthenticated: Bool {
        if case .authenticated = phase { return true }
        return false
    }

    /// Whether a login on this stream must be refused for want of TLS.
    private var needsTLS: Bool { tls == .required && !isEncrypted }

    /// The features of a stream before login.
    private var loginFeatures: [StreamFeature] {
        if needsTLS { return [.startTLS(required: true)] }
        return (tls != .unavailable && !isEncrypted ? [.startTLS(required: false)] : []) + [
            .saslPlain, .legacyAuthentication,
        ]
    }

    /// Handles one frame the framer cut (not an event in the usual shape: those are read by
    /// ``takeLeadingEvent(_:into:)`` or ``scannedEvent(in:)`` first).
    private mutating func handle(_ frame: StreamFrame) -> [Action] {
        switch frame {
        case .streamOpened:
            return openStream()
        case .streamClosed:
            phase = .closed
            return [.send(StanzaEncoder.streamEnd), .close(reason: "the client ended the stream")]
        case .stanza(let buffer):
            let bytes = Array(buffer.readableBytesView)
            let element: ParsedElement
            do {
                element = try ParsedElement.parse(bytes)
            } catch {
                // The framer found where the stanza ends, so the stream is intact: a message that
                // is not well-formed is refused on its own, as the scanner refuses one.
                if Self.isMessage(bytes) {
                    return [
                        .send(
                            StanzaEncoder.messageError(id: nil, condition: "bad-request", text: Self.plainWords(error))
                        )
                    ]
                }
                phase = .closed
                return [
                    .send(StanzaEncoder.streamEnd), .close(reason: "unparseable stanza: \(Self.plainWords(error))"),
                ]
            }
            let namespace = element.attributes["xmlns"]
            switch (element.localName, namespace) {
            case ("iq", _): return receiveIQ(element)
            case ("message", _): return receiveMessage(element, source: bytes)
            case ("starttls", XMPPNamespace.tls): return receiveStartTLS()
            case ("auth", XMPPNamespace.sasl): return receiveSASLAuth(element)
            case ("response", XMPPNamespace.sasl): return receiveSASLResponse(element)
            case ("abort", XMPPNamespace.sasl): return abortSASL()
            default: return []  // presence and the like carry nothing for PsEPR
            }
        }
    }

    /// A stream header: the first, one inside TLS, or the one after SASL.
    private mutating func openStream() -> [Action] {
        switch phase {
        case .awaitingStream:
            phase = .awaitingAuthentication
            return [
                .send(SessionStanzas.streamHeader(serverName: serverName, streamID: streamID, features: loginFeatures))
            ]
        case .awaitingRestart(let service):
            phase = .awaitingBind(service: service)
            streamID = makeStreamID()
            return [
                .send(
                    SessionStanzas.streamHeader(
                        serverName: serverName,
                        streamID: streamID,
                        features: [.bind, .session]
                    )
                )
            ]
        default:
            return [.send(SessionStanzas.streamHeader(serverName: serverName, streamID: streamID, features: []))]
        }
    }

    // MARK: STARTTLS and SASL

    private mutating func receiveStartTLS() -> [Action] {
        guard phase == .awaitingAuthentication, tls != .unavailable, !isEncrypted else {
            phase = .closed
            let reason =
                isEncrypted
                ? "STARTTLS on a stream that is encrypted already"
                : tls == .unavailable ? "STARTTLS, which this server does not offer" : "STARTTLS after the login"
            return [.send(SessionStanzas.tlsFailure), .send(StanzaEncoder.streamEnd), .close(reason: reason)]
        }
        isEncrypted = true
        phase = .awaitingStream
        streamID = makeStreamID()
        return [.send(SessionStanzas.proceed), .startTLS]
    }

    private mutating func receiveSASLAuth(_ auth: ParsedElement) -> [Action] {
        guard phase == .awaitingAuthentication else {
            return [.send(SessionStanzas.saslFailure(.malformedRequest, text: "a login is not expected now"))]
        }
        if needsTLS {
            phase = .closed
            return [
                .send(SessionStanzas.saslFailure(.encryptionRequired, text: Self.tlsRequiredText)),
                .send(StanzaEncoder.streamEnd),
                .close(reason: "a login without TLS, which this server requires"),
            ]
        }
        guard auth.attributes["mechanism"] == "PLAIN" else {
            return [
                .send(
                    SessionStanzas.saslFailure(.invalidMechanism, text: "this server offers the PLAIN mechanism only")
                )
            ]
        }
        let response = auth.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if response.isEmpty {
            phase = .awaitingSASLResponse
            return [.send(SessionStanzas.saslEmptyChallenge)]
        }
        return logInPlain(response)
    }

    private mutating func receiveSASLResponse(_ response: ParsedElement) -> [Action] {
        guard phase == .awaitingSASLResponse else {
            return [.send(SessionStanzas.saslFailure(.malformedRequest, text: "no SASL challenge is open"))]
        }
        return logInPlain(response.text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private mutating func abortSASL() -> [Action] {
        guard phase == .awaitingSASLResponse || phase == .awaitingAuthentication else { return [] }
        phase = .awaitingAuthentication
        return [.send(SessionStanzas.saslFailure(.aborted, text: "the login was abandoned"))]
    }

    /// Checks a PLAIN message (RFC 4616: `authzid NUL authcid NUL password`, base64).
    private mutating func logInPlain(_ base64: String) -> [Action] {
        phase = .awaitingAuthentication
        guard base64 != "=", let decoded = Data(base64Encoded: base64) else {
            return [.send(SessionStanzas.saslFailure(.incorrectEncoding, text: "the credentials are not base64"))]
        }
        let fields = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, let authzid = String(bytes: fields[0], encoding: .utf8),
            let service = String(bytes: fields[1], encoding: .utf8),
            let password = String(bytes: fields[2], encoding: .utf8), !service.isEmpty
        else {
            return [
                .send(SessionStanzas.saslFailure(.malformedRequest, text: "expected a service name and a password"))
            ]
        }
        // One may log in as oneself only: the authorization identity, if any, names the same
        // account, alone or as a JID's local part (clients put whatever domain they dialled).
        let authorizedAccount =
            authzid.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard authzid.isEmpty || authorizedAccount.lowercased() == service.lowercased() else {
            return [.send(SessionStanzas.saslFailure(.invalidAuthzid, text: "a service may log in as itself only"))]
        }
        let check = accounts?.check(service: service, password: password) ?? .accepted
        guard check == .accepted else {
            refusedLogins += 1
            var actions: [Action] = [
                .loginRefused(service: service, reason: check.description),
                .send(
                    SessionStanzas.saslFailure(.notAuthorized, text: "the service name or password was not accepted")
                ),
            ]
            if refusedLogins >= Self.maximumRefusedLogins {
                phase = .closed
                actions += [.send(StanzaEncoder.streamEnd), .close(reason: "\(refusedLogins) refused logins")]
            }
            return actions
        }
        phase = .awaitingRestart(service: service)
        restartRequested = true
        return [.send(SessionStanzas.saslSuccess)]
    }

    static let tlsRequiredText = "this server requires TLS: send <starttls/> before logging in"

    // MARK: IQ

    private mutating func receiveIQ(_ iq: ParsedElement) -> [Action] {
        let id = iq.attributes["id"] ?? ""
        let type = iq.attributes["type"] ?? ""
        guard type == "get" || type == "set" else { return [] }  // results and errors need no answer
        guard let query = iq.children.first else {
            return [
                .send(
                    SessionStanzas.iqError(
                        id: id,
                        type: "modify",
                        condition: "bad-request",
                        text: "an iq carries one request"
                    )
                )
            ]
        }
        let namespace = query.attributes["xmlns"]
        if query.localName == "query", namespace == XMPPNamespace.legacyAuthentication {
            return receiveLegacyAuthentication(query, id: id, type: type)
        }
        if query.localName == "bind", namespace == XMPPNamespace.bind, type == "set" {
            return bind(query, id: id)
        }
        guard case .authenticated(let service, _) = phase else {
            let text = if case .awaitingBind = phase { "bind a resource first" } else { "log in first" }
            return [.send(SessionStanzas.iqError(id: id, type: "auth", condition: "not-authorized", text: text))]
        }
        switch (query.localName, namespace, type) {
        case ("session", XMPPNamespace.session, "set"), ("ping", XMPPNamespace.ping, "get"):
            return [.send(StanzaEncoder.authenticationSucceeded(id: id))]
        case ("query", XMPPNamespace.roster, "get"):
            return [.send(SessionStanzas.emptyRoster(id: id))]
        case ("query", XMPPNamespace.roster, "set"):
            return [
                .send(
                    SessionStanzas.iqError(
                        id: id,
                        type: "cancel",
                        condition: "not-allowed",
                        text: "a PsEPR server keeps no roster"
                    )
                )
            ]
        case ("bind", XMPPNamespace.bind, _):
            return [
                .send(
                    SessionStanzas.iqError(
                        id: id,
                        type: "cancel",
                        condition: "not-allowed",
                        text: "\(service) has a resource bound already"
                    )
                )
            ]
        default:
            return [
                .send(
                    SessionStanzas.iqError(
                        id: id,
                        type: "cancel",
                        condition: "service-unavailable",
                        text: "this server does not offer that request"
                    )
                )
            ]
        }
    }

    /// The original's login, its replies unchanged.
    private mutating func receiveLegacyAuthentication(_ query: ParsedElement, id: String, type: String) -> [Action] {
        switch type {
        case "get":
            return [.send(StanzaEncoder.authenticationFields(id: id, username: query.childText("username")))]
        default:
            guard phase == .awaitingAuthentication || isAuthenticated else {
                return [
                    .send(
                        SessionStanzas.iqError(
                            id: id,
                            type: "cancel",
                            condition: "not-allowed",
                            text: "a login is not expected now"
                        )
                    )
                ]
            }
            guard !needsTLS else {
                phase = .closed
                return [
                    .send(
                        SessionStanzas.iqError(
                            id: id,
                            type: "auth",
                            condition: "policy-violation",
                            text: Self.tlsRequiredText
                        )
                    ),
                    .send(StanzaEncoder.streamEnd), .close(reason: "a login without TLS, which this server requires"),
                ]
            }
            guard let service = query.childText("username"), let password = query.child("password")?.text else {
                phase = .closed
                return [
                    .loginRefused(service: query.childText("username") ?? "", reason: "no service name or password"),
                    .send(StanzaEncoder.authenticationFailed(id: id)), .send(StanzaEncoder.streamEnd),
                    .close(reason: "login without name or password"),
                ]
            }
            let check = accounts?.check(service: service, password: password) ?? .accepted
            guard check == .accepted else {
                phase = .closed
                return [
                    .loginRefused(service: service, reason: check.description),
                    .send(StanzaEncoder.authenticationFailed(id: id)),
                    .send(StanzaEncoder.streamEnd), .close(reason: "login refused"),
                ]
            }
            phase = .authenticated(service: service, instance: query.childText("resource"))
            return [.send(StanzaEncoder.authenticationSucceeded(id: id)), .loggedIn(service: service)]
        }
    }

    /// Resource binding (RFC 6120 §7): the resource, given or made up, is the instance.
    private mutating func bind(_ request: ParsedElement, id: String) -> [Action] {
        guard case .awaitingBind(let service) = phase else {
            if isAuthenticated {
                return [
                    .send(
                        SessionStanzas.iqError(
                            id: id,
                            type: "cancel",
                            condition: "not-allowed",
                            text: "a resource is bound already"
                        )
                    )
                ]
            }
            return [
                .send(SessionStanzas.iqError(id: id, type: "auth", condition: "not-authorized", text: "log in first"))
            ]
        }
        let resource = request.childText("resource") ?? "psepr-\(makeStreamID())"
        guard resource.utf8.count <= 1023 else {
            return [
                .send(
                    SessionStanzas.iqError(
                        id: id,
                        type: "modify",
                        condition: "bad-request",
                        text: "the resource is longer than 1023 bytes"
                    )
                )
            ]
        }
        phase = .authenticated(service: service, instance: resource)
        return [
            .send(SessionStanzas.bindResult(id: id, jid: "\(service)@\(serverName)/\(resource)")),
            .loggedIn(service: service),
        ]
    }

    /// An error's detail in plain words, for a client or a log line (not its type's name).
    /// Whether a stanza (that did not parse) is a `<message>`, by its first name.
    static func isMessage(_ bytes: [UInt8]) -> Bool {
        let delimiters = Array(" \t\r\n>/".utf8)
        let name = Array(bytes.prefix(64).dropFirst().prefix { !delimiters.contains($0) })
        return name == Array("message".utf8) || name.reversed().starts(with: Array(":message".utf8).reversed())
    }

    static func plainWords(_ error: any Error) -> String {
        (error as? PsEPRError)?.reason ?? "the stanza could not be read"
    }

    private func receiveMessage(_ message: ParsedElement, source: [UInt8]) -> [Action] {
        let id = message.attributes["id"]
        guard isAuthenticated else {
            let text =
                if case .awaitingBind = phase { "bind a resource before sending events" } else {
                    "log in before sending events"
                }
            return [.send(StanzaEncoder.messageError(id: id, condition: "not-authorized", text: text))]
        }
        let event: Event
        do {
            event = try Event(element: message, source: source)
        } catch {
            return [.send(StanzaEncoder.messageError(id: id, condition: "bad-request", text: Self.plainWords(error)))]
        }
        return receiveEvent(event, id: id).map { [$0] } ?? []
    }

    // MARK: Reading

    /// Reads the bytes of one socket read: frames them, handles every stanza, and hands `sink`
    /// what each calls for, in order; an unfinished stanza is kept for the next read, and when the
    /// sink asks to pause, everything not yet read is kept for ``resume(into:)`` (or is read first
    /// by the next read). Returns how many frames (stanzas, stream headers and ends) it handled.
    /// Nothing more is read once the sink has said the connection is closing, or the stream has
    /// ended.
    ///
    /// The sink must not use the machine while it is called (it is being modified).
    @discardableResult
    mutating func read(_ input: ByteBuffer, into sink: some ClientSessionSink) -> Int {
        guard !halted else { return 0 }
        paused = false
        var frames = 0
        var bytes = input
        if var pending = unframed {
            unframed = nil
            // The unfinished stanza is completed with a piece of the new read at a time (each as
            // long as all before it), not with a copy of the whole read: once the framer stands
            // between stanzas inside the copied pieces, the rest of the read is read in place.
            var appended = 0
            joining: while true {
                var piece = bytes.readSlice(length: min(bytes.readableBytes, max(Self.firstJoinedPiece, appended)))!
                appended += piece.readableBytes
                pending.writeBuffer(&piece)
                switch consume(&pending, into: sink, frames: &frames, returningWithin: appended) {
                case .stopped:
                    return frames
                case .paused:
                    // Everything not yet read waits: what is left of the pieces, then the read's rest.
                    pending.writeBuffer(&bytes)
                    keep(pending)
                    paused = true
                    return frames
                case .betweenStanzas:
                    // What is left of the pieces is still in the read, just before its reader index.
                    bytes.moveReaderIndex(to: bytes.readerIndex - pending.readableBytes)
                    break joining
                case .needMore:
                    guard bytes.readableBytes > 0 else {
                        keep(pending)
                        return frames
                    }
                }
            }
        }
        switch consume(&bytes, into: sink, frames: &frames, returningWithin: nil) {
        case .stopped: break
        case .paused:
            keep(bytes)
            paused = true
        case .needMore, .betweenStanzas: keep(bytes)
        }
        return frames
    }

    /// Reads on what a paused read left (once the sink lets its reader go), as if it had just
    /// arrived; may pause again.
    @discardableResult
    mutating func resume(into sink: some ClientSessionSink) -> Int {
        guard paused else { return 0 }
        return read(ByteBuffer(), into: sink)
    }

    /// The most bytes of one run of events with a repeated envelope routed before the sink is
    /// asked whether to pause: what a reader can add past a subscriber's high-water mark before
    /// it stops.
    static let runBytes = 32 << 10

    /// The first piece of a read joined to an unfinished stanza: most stanzas end within it.
    static let firstJoinedPiece = 1024
    /// An unfinished stanza at most this long is copied out of its read, so the read's buffer
    /// is not held; a longer one (a large stanza arriving over several reads) stays where it is.
    static let copiedRemainder = 4096

    /// Why ``consume(_:into:frames:returningWithin:)`` stopped.
    private enum Stop: Equatable {
        /// The bytes are used up, or end inside a stanza.
        case needMore
        /// The framer stands between stanzas within the last `returningWithin` bytes.
        case betweenStanzas
        /// Nothing more of this read is to be read: the connection is closing, or TLS starts.
        case stopped
        /// The sink asked to stop here for now; the rest is read on by ``resume(into:)``.
        case paused
    }

    /// Handles the stanzas in `bytes`, one after another, while they are whole.
    private mutating func consume(
        _ bytes: inout ByteBuffer,
        into sink: some ClientSessionSink,
        frames: inout Int,
        returningWithin: Int?
    ) -> Stop {
        while true {
            if framer.isBetweenStanzas {
                if let returningWithin, bytes.readableBytes <= returningWithin { return .betweenStanzas }
                // Events in the usual shape are cut and read in one pass; everything else, and
                // anything not whole yet, goes through the framer.
                switch takeLeadingEvent(&bytes, into: sink, reserved: returningWithin ?? 0) {
                case .taken(let events):
                    frames += events
                    if sink.shouldPauseReading() { return .paused }
                    continue
                case .stopped:
                    frames += 1
                    return .stopped
                case .notTaken:
                    break
                }
            }
            let frame: StreamFrame?
            do {
                frame = try framer.decode(buffer: &bytes)
            } catch {
                breakStream(error, into: sink)
                return .stopped
            }
            guard let frame else { return .needMore }
            frames += 1
            let actions: [Action]
            if case .stanza(let stanza) = frame, case .handled(let action) = scannedEvent(in: stanza) {
                guard let action else { continue }
                actions = [action]
            } else {
                // Anything but an event may change the session: what was derived from the last
                // envelope is derived afresh.
                routedMemo = nil
                actions = handle(frame)
            }
            for action in actions {
                guard dispatch(action, to: sink) else { return .stopped }
                if action == .startTLS {
                    // What the client sent after `<starttls/>`, in the clear, is dropped; a new
                    // stream begins inside TLS.
                    framer = XMLStreamFramer(mode: .stream, limits: limits)
                    return .stopped
                }
            }
            if restartRequested {
                // After SASL success the client opens a new stream on the same connection (RFC
                // 6120 §6.4.6): framed afresh from the next byte.
                restartRequested = false
                framer = XMLStreamFramer(mode: .stream, limits: limits)
            }
            if sink.shouldPauseReading() { return .paused }
        }
    }

    /// Keeps what a read left (an unfinished stanza; after a pause, everything not yet read) for
    /// the next read.
    private mutating func keep(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if bytes.readableBytes <= Self.copiedRemainder {
            var copy = ByteBufferAllocator().buffer(capacity: 2 * Self.copiedRemainder)
            copy.writeImmutableBuffer(bytes)
            unframed = copy
        } else {
            var bytes = bytes
            // Compacted once most of the buffer has been consumed.
            if bytes.readerIndex > bytes.readableBytes { bytes.discardReadBytes() }
            unframed = bytes
        }
    }

    /// Hands `action` to `sink`; false once nothing more is to be read.
    private mutating func dispatch(_ action: Action, to sink: some ClientSessionSink) -> Bool {
        if case .route(let event, let element) = action {
            sink.route(event, envelope: nil, forwarding: element)
            return true
        }
        let more = sink.perform(action)
        if case .close = action { halted = true }
        if !more { halted = true }
        return !halted
    }

    /// Broken XML, a DOCTYPE, an oversized stanza: the stream cannot go on; this connection ends
    /// (what it published before goes out first).
    private mutating func breakStream(_ error: any Error, into sink: some ClientSessionSink) {
        let reason = (error as? PsEPRError)?.reason ?? "the stream could not be read"
        phase = .closed
        for action in [
            Action.badXML("\(error)"),
            .send(StanzaEncoder.messageError(id: nil, condition: "not-well-formed", text: reason)),
            .send(StanzaEncoder.streamEnd), .close(reason: "bad XML: \(reason)"),
        ] {
            guard dispatch(action, to: sink) else { return }
        }
    }

    /// What ``scannedEvent(in:)`` did.
    private enum ScannedEvent {
        /// An event, and the action it calls for (if any).
        case handled(Action?)
        /// Not an event the scanner reads: parse the stanza in full.
        case unhandled
    }

    /// The channel of the client's last scanned event: a publisher usually sends to one channel.
    private var recentChannel: ChannelName?
    /// The client's last event read in one pass, whose envelope the next one likely repeats.
    private var leadingMemo: EventScanner.LeadingMemo?
    /// Counts the memos that replaced one another: what was derived from one holds while it is
    /// the same (counted here, so the hot path never reads the memo itself).
    private var memoSerial: UInt64 = 0

    /// An event routed with its `<event>` element forwarded, derived from the envelope of
    /// ``leadingMemo`` (with the sender filled in): the next event with that envelope is routed as
    /// this one, with its own element. Kept in place, not in an optional: handed to the router
    /// from here, it is neither copied nor retained.
    private var routedEvent = Event(channel: .root)
    /// The memo ``routedEvent`` came from (its ``memoSerial``); nil: none holds.
    private var routedMemo: UInt64?
    /// ``routedEvent``'s envelope number for the router, which keeps its lookup while it is the same.
    private var routedEnvelope: UInt64 = 0
    /// The `<event>` elements of a run of events with ``routedEvent``'s envelope, kept between
    /// reads for its capacity.
    private var runElements: [Range<Int>] = []

    /// The bulk of the traffic without building an action list: an event from a logged-in client
    /// in the usual shape, read straight from its bytes.
    private mutating func scannedEvent(in stanza: ByteBuffer) -> ScannedEvent {
        guard isAuthenticated else { return .unhandled }
        switch stanza.withUnsafeReadableBytes({
            EventScanner.check($0, recentChannel: recentChannel, copyPayload: false)
        }) {
        case .scanned(let scanned): return .handled(receiveScanned(scanned, in: stanza))
        case .unusual: return .unhandled
        case .refused(let error, let id):
            // Not well-formed, or a repeated envelope element: never forwarded; the sender is told.
            return .handled(
                .send(StanzaEncoder.messageError(id: id, condition: "bad-request", text: Self.plainWords(error)))
            )
        }
    }

    private enum Taken {
        /// This many events were taken off.
        case taken(Int)
        case notTaken, stopped
    }

    /// Takes the event at the front of `bytes` (after any whitespace, which the framer would drop
    /// too) off when it is whole and in the usual shape, the framer's job and the scan in one
    /// pass, and hands on what it calls for; `.notTaken`, with `bytes` untouched, for anything
    /// the framer and ``scannedEvent(in:)`` must see. Events that repeat the envelope of one
    /// already routed are taken off as a run, up to where no more than `reserved` bytes remain.
    private mutating func takeLeadingEvent(
        _ bytes: inout ByteBuffer,
        into sink: some ClientSessionSink,
        reserved: Int
    ) -> Taken {
        guard isAuthenticated else { return .notTaken }
        let recent = recentChannel
        let limits = self.limits
        guard
            let (start, leading) = bytes.withUnsafeReadableBytes({ raw -> (Int, EventScanner.Leading)? in
                var start = 0
                while start < raw.count, XMLStreamFramer.isWhitespace(raw[start]) { start += 1 }
                guard start < raw.count, raw[start] == UInt8(ascii: "<"),
                    let leading = EventScanner.scanLeading(
                        start == 0 ? raw : UnsafeRawBufferPointer(rebasing: raw[start...]),
                        limits: limits,
                        recentChannel: recent,
                        copyPayload: false,
                        memo: &leadingMemo
                    )
                else { return nil }
                return (start, leading)
            })
        else { return .notTaken }
        bytes.moveReaderIndex(forwardBy: start)
        let scanned: EventScanner.Scanned
        let stanza: ByteBuffer
        // Whether the memo now holds this message's envelope.
        let memoIsThisMessage: Bool
        switch leading {
        case .repeated(let length, let payload, let element):
            if let element, routedMemo == memoSerial, let memo = leadingMemo {
                // The publisher's usual case: the envelope of the last event around a new payload,
                // and likely more such events after it in the same read.
                runElements.removeAll(keepingCapacity: true)
                runElements.append(element)
                let end = bytes.withUnsafeReadableBytes {
                    memo.matchRun(
                        $0,
                        from: length,
                        reserved: reserved,
                        maximumBytes: Self.runBytes,
                        limits: limits,
                        into: &runElements
                    )
                }
                sink.route(routedEvent, envelope: routedEnvelope, forwardingRun: bytes, elements: runElements)
                bytes.moveReaderIndex(forwardBy: end)
                return .taken(runElements.count)
            }
            stanza = bytes.readSlice(length: length)!
            scanned = EventScanner.Scanned(
                event: leadingMemo!.event,
                selfContainedElement: element,
                payloadRange: payload
            )
            memoIsThisMessage = true
        case .scanned(let read, let length, let memoReplaced):
            stanza = bytes.readSlice(length: length)!
            scanned = read
            memoIsThisMessage = memoReplaced
            if memoReplaced { memoSerial &+= 1 }
        }
        // What was derived from another envelope no longer holds.
        if !memoIsThisMessage || routedMemo != memoSerial { routedMemo = nil }
        switch receiveScanned(scanned, in: stanza) {
        case .route(let event, let element?)? where memoIsThisMessage:
            // Derived once per envelope; the next event with it is routed as this one.
            routedEvent = event
            routedMemo = memoSerial
            routedEnvelope &+= 1
            sink.route(routedEvent, envelope: routedEnvelope, forwarding: element)
            return .taken(1)
        case let action?:
            return dispatch(action, to: sink) ? .taken(1) : .stopped
        case nil:
            return .taken(1)
        }
    }

    /// The action for an event the scanner read from `stanza`.
    private mutating func receiveScanned(_ scanned: consuming EventScanner.Scanned, in stanza: ByteBuffer) -> Action? {
        guard case .authenticated(let service, _) = phase else { return nil }
        let (element, payloadRange) = (scanned.selfContainedElement, scanned.payloadRange)
        // Moved, not copied: the event is handed on whole.
        var event = (consume scanned).event
        recentChannel = event.channel
        // A forwarded element carries the payload; only an event written anew, or a lease
        // operation, needs it copied out.
        if element == nil || !canForward(event, service: service) || event.payloadNamespace == LeaseOperation.namespace,
            let range = payloadRange
        {
            event.payload = stanza.getBytes(at: stanza.readerIndex + range.lowerBound, length: range.count) ?? []
        }
        let id = event.id
        return receiveEvent(
            event,
            id: id,
            element: element.flatMap { stanza.getSlice(at: stanza.readerIndex + $0.lowerBound, length: $0.count) }
        )
    }

    /// Whether the sender's `<event>` element can go on as it came: nothing in it is rewritten
    /// by ``receiveEvent(_:id:element:)``.
    private func canForward(_ event: Event, service: String) -> Bool {
        event.fromInstance != nil && event.fromService.map { accounts == nil || $0 == service } == true
    }

    /// An event from the logged-in client: routed, or a lease operation carried out.
    private func receiveEvent(_ event: consuming Event, id: String?, element: ByteBuffer? = nil) -> Action? {
        guard case .authenticated(let service, let instance) = phase else { return nil }
        let forwardable = canForward(event, service: service)
        // With accounts configured the sender is who logged in; open servers pass it through.
        if accounts != nil || event.fromService == nil { event.fromService = service }
        if event.fromInstance == nil { event.fromInstance = instance }
        let lease: LeaseOperation?
        do {
            lease = try event.leaseOperation()
        } catch {
            return .send(StanzaEncoder.messageError(id: id, condition: "bad-request", text: Self.plainWords(error)))
        }
        guard let lease else { return .route(event, forwarding: forwardable ? element : nil) }
        switch lease.operation {
        case .register: return .register(lease, channel: event.channel, service: service, instance: instance)
        case .unregister: return .unregister(identifier: lease.identifier)
        case .lease, .refused: return nil  // a server's words; a client has no business sending them
        }
    }
}

/// Where a ``ClientSessionMachine`` hands what a read calls for, in order.
protocol ClientSessionSink: AnyObject {
    /// Routes `event` (its payload empty when `element` carries it) to the subscribers of its
    /// channel.
    ///
    /// - Parameters:
    ///   - envelope: the same number as an earlier call's when the event's envelope (channel,
    ///     addressee, namespace, sender) is that call's, so a lookup made for it still answers;
    ///     nil when not known.
    ///   - element: the event's `<event>` element, a slice of the read, when it can be sent on as it came.
    func route(_ event: Event, envelope: UInt64?, forwarding element: ByteBuffer?)
    /// Routes events that all share `event`'s envelope, in order, each forwarding its own
    /// `<event>` element: `elements` are ranges of `buffer`'s readable bytes (a publisher's burst,
    /// read in one pass). The same as ``route(_:envelope:forwarding:)`` for each.
    func route(_ event: Event, envelope: UInt64, forwardingRun buffer: ByteBuffer, elements: [Range<Int>])
    /// Carries out `action` (never `.route`); false once the connection is closing.
    func perform(_ action: ClientSessionMachine.Action) -> Bool
    /// Whether to stop reading here for now: a subscriber fed by this read has passed its
    /// high-water mark, so the connection is about to be held back. What the read has left waits
    /// in the machine for ``ClientSessionMachine/resume(into:)``.
    func shouldPauseReading() -> Bool
}
