/// The attribute payload (`http://psepr.org/xs/payload/attribute`): a named value, as Stork and
/// jClient's `PayloadAttribute` sent it.
///
/// ```xml
/// <payload xmlns='http://psepr.org/xs/payload/attribute'><field>name</field><value>text</value><expire>90</expire></payload>
/// ```
public struct AttributePayload: Sendable, Hashable {
    /// The payload namespace.
    public static let namespace = "http://psepr.org/xs/payload/attribute"

    /// The attribute's name (`<field>`).
    public var field: String
    /// Its value (`<value>`), escaped on the wire.
    public var value: String
    /// Seconds the value stays valid, if given.
    public var expireSeconds: Int?

    /// Creates a payload.
    public init(field: String, value: String, expireSeconds: Int? = nil) {
        self.field = field
        self.value = value
        self.expireSeconds = expireSeconds
    }

    /// Reads an attribute payload.
    ///
    /// - Throws: ``PsEPRError/Code/malformedEvent`` when the payload is not one.
    public init(payload bytes: some Collection<UInt8>) throws {
        let element = try ParsedElement.parse(bytes)
        guard element.attributes["xmlns"] == Self.namespace, let field = element.childText("field") else {
            throw PsEPRError(.malformedEvent, "not an attribute payload")
        }
        self.init(
            field: field,
            value: element.child("value")?.text ?? "",
            expireSeconds: element.childText("expire").flatMap { Int($0) }
        )
    }

    /// The `<payload>` element.
    public var payloadBytes: [UInt8] {
        var xml = XMLWriter()
        xml.element("payload", ["xmlns": Self.namespace]) {
            $0.element("field", text: field)
            $0.element("value", text: value)
            if let expireSeconds { $0.element("expire", text: String(expireSeconds)) }
        }
        return xml.bytes
    }
}

extension Event {
    /// An event carrying an attribute payload.
    public init(channel: ChannelName, attribute: AttributePayload, toService: String? = nil, toInstance: String? = nil)
    {
        self.init(
            channel: channel,
            toService: toService,
            toInstance: toInstance,
            payloadNamespace: AttributePayload.namespace,
            payload: attribute.payloadBytes
        )
    }
}
