import NIOCore
import PsEPRCore

/// One client connection's protocol logic: stream header, legacy `jabber:iq:auth`, events and
/// lease operations. Pure: frames in, actions out; the connection carries the actions out.
///
/// Each step of the login gets exactly one reply, as its own write, because naive clients (the
/// Stork client) advance one step per chunk they receive.
struct ClientSessionMachine {
    enum Phase: Equatable {
        case awaitingStream
        case awaitingAuthentication
        case authenticated(service: String, instance: String?)
        case closed
    }

    enum Action: Equatable {
        /// Send these bytes as one write.
        case send([UInt8])
        /// Route an event to the subscribers of its channel; `forwarding` is where its `<event>`
        /// element lies in the stanza when it can be sent on as it came.
        case route(Event, forwarding: Range<Int>?)
        /// Take or renew a lease for this connection, then grant it.
        case register(LeaseOperation, channel: ChannelName)
        /// Release a lease of this connection.
        case unregister(identifier: String)
        /// Close the connection (after sending what came before).
        case close(reason: String)
    }

    private(set) var phase = Phase.awaitingStream
    /// Whether the session ended on a refused login (for the metrics).
    private(set) var refusedLogin = false
    let serverName: String
    let streamID: String
    let accounts: AccountTable?

    init(serverName: String, streamID: String, accounts: AccountTable?) {
        self.serverName = serverName
        self.streamID = streamID
        self.accounts = accounts
    }

    var isAuthenticated: Bool {
        if case .authenticated = phase { return true }
        return false
    }

    /// Handles one frame.
    ///
    /// - Parameter scanFirst: try ``scannedEvent(in:)`` first; a caller that already did passes false.
    mutating func receive(_ frame: StreamFrame, scanFirst: Bool = true) -> [Action] {
        switch frame {
        case .streamOpened:
            if phase == .awaitingStream { phase = .awaitingAuthentication }
            return [.send(StanzaEncoder.streamHeader(serverName: serverName, streamID: streamID))]
        case .streamClosed:
            phase = .closed
            return [.send(StanzaEncoder.streamEnd), .close(reason: "the client ended the stream")]
        case .stanza(let buffer):
            // Events, the bulk of the traffic, are read from the bytes directly; anything else,
            // or an event in an unusual shape, gets the full parser.
            if scanFirst, case .handled(let action) = scannedEvent(in: buffer) { return action.map { [$0] } ?? [] }
            let bytes = Array(buffer.readableBytesView)
            let element: XMLElement
            do {
                element = try XMLElement.parse(bytes)
            } catch {
                phase = .closed
                return [.send(StanzaEncoder.streamEnd), .close(reason: "unparseable stanza: \(error)")]
            }
            switch element.localName {
            case "iq": return receiveIQ(element)
            case "message": return receiveMessage(element, source: bytes)
            default: return []  // presence and the like carry nothing for PsEPR
            }
        }
    }

    private mutating func receiveIQ(_ iq: XMLElement) -> [Action] {
        let id = iq.attributes["id"] ?? ""
        let type = iq.attributes["type"] ?? ""
        guard let query = iq.child("query"), query.attributes["xmlns"] == "jabber:iq:auth" else {
            // Other queries (rosters, sessions) of standard clients get an empty result once logged in.
            guard isAuthenticated, type == "get" || type == "set" else { return [] }
            return [.send(StanzaEncoder.authenticationSucceeded(id: id))]
        }
        switch type {
        case "get":
            return [.send(StanzaEncoder.authenticationFields(id: id, username: query.childText("username")))]
        case "set":
            guard let service = query.childText("username"), let password = query.child("password")?.text else {
                phase = .closed
                refusedLogin = true
                return [.send(StanzaEncoder.authenticationFailed(id: id)), .send(StanzaEncoder.streamEnd), .close(reason: "login without name or password")]
            }
            guard accounts?.verify(service: service, password: password) ?? true else {
                phase = .closed
                refusedLogin = true
                return [.send(StanzaEncoder.authenticationFailed(id: id)), .send(StanzaEncoder.streamEnd), .close(reason: "wrong password for \(service)")]
            }
            phase = .authenticated(service: service, instance: query.childText("resource"))
            return [.send(StanzaEncoder.authenticationSucceeded(id: id))]
        default:
            return []
        }
    }

    private func receiveMessage(_ message: XMLElement, source: [UInt8]) -> [Action] {
        let id = message.attributes["id"]
        guard isAuthenticated else {
            return [.send(StanzaEncoder.messageError(id: id, condition: "not-authorized", text: "log in before sending events"))]
        }
        let event: Event
        do {
            event = try Event(element: message, source: source)
        } catch {
            return [.send(StanzaEncoder.messageError(id: id, condition: "bad-request", text: "\(error)"))]
        }
        return receiveEvent(event, id: id).map { [$0] } ?? []
    }

    /// What ``scannedEvent(in:)`` did.
    enum ScannedEvent {
        /// An event, and the action it calls for (if any).
        case handled(Action?)
        /// Not an event the scanner reads: parse the stanza in full.
        case unhandled
    }

    /// The channel of the client's last scanned event: a publisher usually sends to one channel.
    private var recentChannel: ChannelName?

    /// The bulk of the traffic without building an action list: an event from a logged-in client
    /// in the usual shape, read straight from its bytes.
    mutating func scannedEvent(in stanza: ByteBuffer) -> ScannedEvent {
        guard case .authenticated(let service, _) = phase,
            let scanned = stanza.withUnsafeReadableBytes({ EventScanner.scanMessage($0, recentChannel: recentChannel, copyPayload: false) })
        else { return .unhandled }
        recentChannel = scanned.event.channel
        var event = scanned.event
        // A forwarded element carries the payload; only an event written anew, or a lease
        // operation, needs it copied out.
        if scanned.selfContainedElement == nil || !canForward(event, service: service) || event.payloadNamespace == LeaseOperation.namespace,
            let range = scanned.payloadRange
        {
            event.payload = stanza.getBytes(at: stanza.readerIndex + range.lowerBound, length: range.count) ?? []
        }
        return .handled(receiveEvent(event, id: event.id, element: scanned.selfContainedElement))
    }

    /// Whether the sender's `<event>` element can go on as it came: nothing in it is rewritten
    /// by ``receiveEvent(_:id:element:)``.
    private func canForward(_ event: Event, service: String) -> Bool {
        event.fromInstance != nil && event.fromService.map { accounts == nil || $0 == service } == true
    }

    /// An event from the logged-in client: routed, or a lease operation carried out.
    private func receiveEvent(_ event: Event, id: String?, element: Range<Int>? = nil) -> Action? {
        guard case .authenticated(let service, let instance) = phase else { return nil }
        var event = event
        let forwardable = canForward(event, service: service)
        // With accounts configured the sender is who logged in; open servers pass it through.
        if accounts != nil || event.fromService == nil { event.fromService = service }
        if event.fromInstance == nil { event.fromInstance = instance }
        let lease: LeaseOperation?
        do {
            lease = try event.leaseOperation()
        } catch {
            return .send(StanzaEncoder.messageError(id: id, condition: "bad-request", text: "\(error)"))
        }
        guard let lease else { return .route(event, forwarding: forwardable ? element : nil) }
        switch lease.operation {
        case .register: return .register(lease, channel: event.channel)
        case .unregister: return .unregister(identifier: lease.identifier)
        case .lease, .refused: return nil  // a server's words; a client has no business sending them
        }
    }
}
