/// A PsEPR event: where it goes, who sent it, and an opaque payload.
///
/// Wire form (inside a `<message>` on the client port, or an `<inputEvent>` on the OneEvent port):
/// ```xml
/// <event xmlns='http://psepr.org/xs/event'>
///   <to><channel>/a/b/</channel><service>svc</service><instance>i</instance></to>
///   <from><service>me</service><instance>host</instance></from>
///   <payload xmlns='urn:example'>…</payload>
/// </event>
/// ```
/// The payload is kept as its original bytes, so routers forward it unchanged.
public struct Event: Sendable, Hashable {
    /// The namespace of the `<event>` element.
    public static let namespace = "http://psepr.org/xs/event"

    /// The `id` of the carrying `<message>`, if any.
    public var id: String?
    /// The destination channel.
    public var channel: ChannelName
    /// Only subscribers authenticated as this service receive the event (`nil`: any).
    public var toService: String?
    /// With ``toService``, only this instance of it (`nil`: any).
    public var toInstance: String?
    /// The sending service.
    public var fromService: String?
    /// The sending instance.
    public var fromInstance: String?
    /// The payload's `xmlns`: the event's type.
    public var payloadNamespace: String?
    /// The `<payload …>…</payload>` element exactly as received (empty if there was none).
    public var payload: [UInt8]

    /// Creates an event.
    public init(
        id: String? = nil,
        channel: ChannelName,
        toService: String? = nil,
        toInstance: String? = nil,
        fromService: String? = nil,
        fromInstance: String? = nil,
        payloadNamespace: String? = nil,
        payload: [UInt8] = []
    ) {
        self.id = id
        self.channel = channel
        self.toService = toService
        self.toInstance = toService == nil ? nil : toInstance
        self.fromService = fromService
        self.fromInstance = fromInstance
        self.payloadNamespace = payloadNamespace
        self.payload = payload
    }

    /// Parses a stanza: a `<message>` carrying an `<event>`, or a bare `<event>`.
    ///
    /// - Throws: ``PsEPRError/Code/malformedXML`` or ``PsEPRError/Code/malformedEvent`` (no
    ///   `<event>`, no channel), ``PsEPRError/Code/invalidChannel``.
    public init(stanza bytes: some Collection<UInt8>) throws {
        let source = Array(bytes)
        let element = try ParsedElement.parse(source)
        try self.init(element: element, source: source)
    }

    /// Reads an event from a parsed `<message>` or `<event>` element of `source`.
    public init(element: ParsedElement, source: [UInt8]) throws {
        if element.localName != "event" { try Self.requireAtMostOne(["event"], in: element) }
        let event = element.localName == "event" ? element : element.child("event")
        guard let event else { throw PsEPRError(.malformedEvent, "<\(element.name)> carries no <event>") }
        try Self.requireAtMostOne(["to", "from", "payload"], in: event)
        guard let to = event.child("to") else { throw PsEPRError(.malformedEvent, "the event has no <to><channel>") }
        try Self.requireAtMostOne(["channel", "service", "instance"], in: to)
        guard let channelText = to.childText("channel") else {
            throw PsEPRError(.malformedEvent, "the event has no <to><channel>")
        }
        let from = event.child("from")
        if let from { try Self.requireAtMostOne(["service", "instance"], in: from) }
        let payload = event.child("payload")
        self.init(
            id: element.localName == "message" ? element.attributes["id"] : nil,
            channel: try ChannelName(channelText),
            toService: to.childText("service"),
            toInstance: to.childText("instance"),
            fromService: from?.childText("service"),
            fromInstance: from?.childText("instance"),
            payloadNamespace: payload?.attributes["xmlns"],
            payload: payload.map { Array(source[$0.byteRange]) } ?? []
        )
    }

    /// Refuses an envelope element given twice: the first and the last would route differently,
    /// so neither is taken. ``EventScanner`` refuses the same.
    static func requireAtMostOne(_ names: [String], in element: ParsedElement) throws {
        for name in names where element.children.lazy.filter({ $0.localName == name }).count > 1 {
            throw PsEPRError.repeatedEnvelopeElement(name, in: String(element.localName))
        }
    }

    /// The lease operation this event carries, if its payload is in the lease namespace.
    ///
    /// - Throws: ``PsEPRError/Code/malformedEvent`` for a lease payload without an identifier or
    ///   with an unknown operation.
    public func leaseOperation() throws -> LeaseOperation? {
        guard payloadNamespace == LeaseOperation.namespace else { return nil }
        return try LeaseOperation(payload: ParsedElement.parse(payload))
    }
}

/// A lease request, renewal, release or grant: an event payload in the lease namespace.
///
/// ```xml
/// <payload xmlns='http://psepr.org/xs/payload/lease'>
///   <identifier>k3J…</identifier><duration>600</duration><op>register</op><type>urn:x</type>
/// </payload>
/// ```
public struct LeaseOperation: Sendable, Hashable {
    /// The lease payload namespace.
    public static let namespace = "http://psepr.org/xs/payload/lease"

    /// What the operation does.
    public enum Operation: String, Sendable, Hashable {
        /// Take the lease, or renew it if the identifier is known (input alias `renew`).
        case register
        /// Give it up (input alias `release`).
        case unregister
        /// The server's grant, carrying the granted duration (input alias `granted`).
        case lease
        /// The server's refusal, with a reason.
        case refused
    }

    /// The operation.
    public var operation: Operation
    /// The client's name for the lease, unique per lease.
    public var identifier: String
    /// Requested or granted length in seconds.
    public var duration: Int?
    /// Payload namespace the lease is limited to; `nil` for any.
    public var namespaceFilter: String?
    /// Why a lease was refused.
    public var reason: String?

    /// Creates an operation.
    public init(
        operation: Operation,
        identifier: String,
        duration: Int? = nil,
        namespaceFilter: String? = nil,
        reason: String? = nil
    ) {
        self.operation = operation
        self.identifier = identifier
        self.duration = duration
        self.namespaceFilter = namespaceFilter
        self.reason = reason
    }

    /// Reads a lease payload. The filter may come as `<type>` or `<namespace>`; empty or `ANY`
    /// means any namespace.
    public init(payload: ParsedElement) throws {
        guard let identifier = payload.childText("identifier") else {
            throw PsEPRError(.malformedEvent, "a lease operation has no <identifier>")
        }
        let literal = payload.childText("op")?.lowercased() ?? ""
        let aliases: [String: Operation] = ["renew": .register, "release": .unregister, "granted": .lease]
        guard let operation = Operation(rawValue: literal) ?? aliases[literal] else {
            throw PsEPRError(.malformedEvent, "unknown lease operation \"\(literal.prefix(40))\"")
        }
        var duration: Int?
        if let text = payload.childText("duration") {
            guard let seconds = Int(text), seconds >= 0 else {
                throw PsEPRError(.malformedEvent, "lease duration \"\(text.prefix(20))\" is not a number of seconds")
            }
            duration = seconds
        }
        let filter = payload.childText("type") ?? payload.childText("namespace")
        self.init(
            operation: operation,
            identifier: identifier,
            duration: duration,
            namespaceFilter: filter.flatMap { $0.uppercased() == "ANY" ? nil : $0 },
            reason: payload.childText("reason")
        )
    }

    /// The `<payload>` element for this operation.
    public var payloadBytes: [UInt8] {
        var xml = XMLWriter()
        xml.element("payload", ["xmlns": Self.namespace]) {
            $0.element("identifier", text: identifier)
            if let duration { $0.element("duration", text: String(duration)) }
            $0.element("op", text: operation.rawValue)
            if let namespaceFilter { $0.element("type", text: namespaceFilter) }
            if let reason { $0.element("reason", text: reason) }
        }
        return xml.bytes
    }
}
