public import NIOCore

/// The stanzas a PsEPR server sends, built once and escaped throughout.
public enum StanzaEncoder {
    /// The server's stream header, with its `<stream:features>` (by default legacy authentication,
    /// XEP-0078) in the same write, so a naive client still sees one reply for this step.
    ///
    /// - Parameter features: the content of `<stream:features>`, already XML.
    public static func streamHeader(
        serverName: String,
        streamID: String,
        features: String = legacyAuthenticationFeature
    ) -> [UInt8] {
        var xml = XMLWriter()
        xml.markup("<?xml version='1.0'?>")
        xml.start(
            "stream:stream",
            [
                "xmlns": "jabber:client", "xmlns:stream": XMPPNamespace.streams, "from": serverName,
                "id": streamID, "version": "1.0",
            ]
        )
        xml.element("stream:features") { $0.markup(features) }
        return xml.bytes
    }

    /// The stream feature advertising legacy `jabber:iq:auth` (XEP-0078).
    public static let legacyAuthenticationFeature = "<auth xmlns='http://jabber.org/features/iq-auth'/>"

    /// The end of the stream.
    public static let streamEnd: [UInt8] = Array("</stream:stream>".utf8)

    /// A stream error (RFC 6120 §4.9) naming `condition` and why, followed by the end of the
    /// stream: what a connection the server ends for its own reasons receives last.
    public static func streamErrorAndEnd(condition: String, text: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("stream:error") {
            $0.empty(condition, ["xmlns": XMPPNamespace.streamErrors])
            $0.element("text", ["xmlns": XMPPNamespace.streamErrors], text: text)
        }
        xml.end("stream:stream")
        return xml.bytes
    }

    /// The answer to `iq get` on `jabber:iq:auth`: the fields the server wants.
    public static func authenticationFields(id: String, username: String?) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("iq", ["type": "result", "id": id]) {
            $0.element("query", ["xmlns": XMPPNamespace.legacyAuthentication]) {
                if let username { $0.element("username", text: username) } else { $0.empty("username") }
                $0.empty("password")
                $0.empty("resource")
            }
        }
        return xml.bytes
    }

    /// A successful `iq set`.
    public static func authenticationSucceeded(id: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.empty("iq", ["type": "result", "id": id])
        return xml.bytes
    }

    /// A failed `iq set` (XMPP's not-authorized).
    public static func authenticationFailed(id: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("iq", ["type": "error", "id": id]) {
            $0.element("error", ["code": "401", "type": "auth"]) {
                $0.empty("not-authorized", ["xmlns": XMPPNamespace.stanzas])
            }
        }
        return xml.bytes
    }

    /// An error about a message (malformed event, refused operation), echoing its `id`.
    public static func messageError(id: String?, condition: String, text: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("message", ["type": "error", "id": id]) {
            $0.element("error", ["type": "modify"]) {
                $0.empty(condition, ["xmlns": XMPPNamespace.stanzas])
                $0.element("text", ["xmlns": XMPPNamespace.stanzas], text: text)
            }
        }
        return xml.bytes
    }

    /// A `<message>` delivering `event`; the payload goes out as the bytes that came in.
    public static func message(_ event: Event, id: String) -> [UInt8] {
        Array(messageBuffer(event, id: id).readableBytesView)
    }

    /// ``message(_:id:)`` written straight into a new buffer.
    public static func messageBuffer(_ event: Event, id: String) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(
            capacity: event.payload.count + 256 + event.channel.rawValue.utf8.count
        )
        writeMessage(event, id: id, into: &buffer)
        return buffer
    }

    /// Writes ``message(_:id:)`` into `buffer`.
    public static func writeMessage(_ event: Event, id: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<message id='")
        buffer.writeXMLText(id)
        buffer.writeStaticString("'>")
        writeEvent(event, into: &buffer)
        buffer.writeStaticString("</message>")
    }

    /// Writes a `<message>` around an `<event>` element forwarded as it came (one that stands on
    /// its own: see ``EventScanner/Scanned/selfContainedElement``).
    public static func writeMessage(forwarding eventElement: ByteBuffer, id: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<message id='")
        buffer.writeXMLText(id)
        buffer.writeStaticString("'>")
        buffer.writeImmutableBuffer(eventElement)
        buffer.writeStaticString("</message>")
    }

    /// ``writeMessage(forwarding:id:into:)`` with the id `m<number>`, written without building a string.
    public static func writeMessage(forwarding eventElement: ByteBuffer, number: UInt64, into buffer: inout ByteBuffer)
    {
        // The bulk of what a router writes: in one reservation of the buffer rather than a
        // write (and a check of the buffer's ownership) per piece.
        eventElement.withUnsafeReadableBytes { element in
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: messageBytesBound(element.count)) { space in
                writeMessage(forwarding: element, number: number, at: 0, in: space)
            }
        }
    }

    /// ``writeMessage(forwarding:number:into:)`` for each of `elements` (ranges of `source`'s
    /// readable bytes), numbered on from `firstNumber`, in one reservation of `buffer`; appends
    /// each message's size to `sizes`.
    public static func writeMessages(
        forwarding source: ByteBuffer,
        elements: [Range<Int>],
        firstNumber: UInt64,
        into buffer: inout ByteBuffer,
        sizes: inout [Int]
    ) {
        let bound = elements.reduce(0) { $0 + messageBytesBound($1.count) }
        source.withUnsafeReadableBytes { raw in
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { space in
                var index = 0
                var number = firstNumber
                for element in elements {
                    let size = writeMessage(
                        forwarding: UnsafeRawBufferPointer(rebasing: raw[element]),
                        number: number,
                        at: index,
                        in: space
                    )
                    sizes.append(size)
                    index += size
                    number &+= 1
                }
                return index
            }
        }
    }

    private static let messagePrefix: StaticString = "<message id='m"
    private static let messageIDEnd: StaticString = "'>"
    private static let messageSuffix: StaticString = "</message>"

    /// The most bytes a message `m<number>` around an element of `count` bytes takes.
    private static func messageBytesBound(_ count: Int) -> Int {
        messagePrefix.utf8CodeUnitCount + 20 + messageIDEnd.utf8CodeUnitCount + count
            + messageSuffix.utf8CodeUnitCount
    }

    /// Writes the message `m<number>` around `element` at `start` of `space`, which has room for
    /// ``messageBytesBound(_:)``; returns its size.
    private static func writeMessage(
        forwarding element: UnsafeRawBufferPointer,
        number: UInt64,
        at start: Int,
        in space: UnsafeMutableRawBufferPointer
    ) -> Int {
        var index = start
        func put(_ bytes: UnsafeRawBufferPointer) {
            UnsafeMutableRawBufferPointer(rebasing: space[index..<(index + bytes.count)]).copyMemory(from: bytes)
            index += bytes.count
        }
        func put(_ text: StaticString) {
            put(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        put(messagePrefix)
        var digits = 1
        var rest = number / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var value = number
        for position in stride(from: index + digits - 1, through: index, by: -1) {
            space[position] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
        index += digits
        put(messageIDEnd)
        put(element)
        put(messageSuffix)
        return index - start
    }

    /// The `<event>` element of `event`; the payload goes out as its bytes.
    public static func eventElement(_ event: Event) -> [UInt8] {
        var buffer = ByteBuffer()
        writeEvent(event, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// An element holding escaped text.
    private static func writeField(
        _ open: StaticString,
        _ text: String,
        _ close: StaticString,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(open)
        buffer.writeXMLText(text)
        buffer.writeStaticString(close)
    }

    /// Writes the `<event>` element of `event`.
    public static func writeEvent(_ event: Event, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<event xmlns='http://psepr.org/xs/event'><to><channel>")
        buffer.writeString(event.channel.rawValue)  // the channel grammar has nothing to escape
        buffer.writeStaticString("</channel>")
        if let service = event.toService {
            writeField("<service>", service, "</service>", into: &buffer)
            if let instance = event.toInstance { writeField("<instance>", instance, "</instance>", into: &buffer) }
        }
        buffer.writeStaticString("</to><from>")
        if let service = event.fromService { writeField("<service>", service, "</service>", into: &buffer) }
        if let instance = event.fromInstance { writeField("<instance>", instance, "</instance>", into: &buffer) }
        buffer.writeStaticString("</from>")
        buffer.writeBytes(event.payload)
        buffer.writeStaticString("</event>")
    }
}

/// The XMPP namespaces of the stream, its errors and the login.
public enum XMPPNamespace {
    public static let streams = "http://etherx.jabber.org/streams"
    public static let streamErrors = "urn:ietf:params:xml:ns:xmpp-streams"
    public static let stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
    public static let tls = "urn:ietf:params:xml:ns:xmpp-tls"
    public static let sasl = "urn:ietf:params:xml:ns:xmpp-sasl"
    public static let bind = "urn:ietf:params:xml:ns:xmpp-bind"
    public static let session = "urn:ietf:params:xml:ns:xmpp-session"
    public static let legacyAuthentication = "jabber:iq:auth"
    public static let roster = "jabber:iq:roster"
    public static let ping = "urn:xmpp:ping"
}

/// The stanzas a PsEPR client sends to log in: a stream header, then legacy `jabber:iq:auth`
/// (XEP-0078) in two steps, as the original's clients did.
public enum ClientStanzas {
    /// The client's stream header, as the Stork client wrote it.
    public static func streamHeader(to host: String) -> [UInt8] {
        var xml = XMLWriter(quote: .double)
        xml.markup("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>")
        xml.start("stream:stream", ["to": host, "xmlns": "jabber:client", "xmlns:stream": XMPPNamespace.streams])
        return xml.bytes
    }

    /// Asks which fields the login needs.
    public static func authenticationQuery(id: String, service: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("iq", ["type": "get", "id": id]) {
            $0.element("query", ["xmlns": XMPPNamespace.legacyAuthentication]) { $0.element("username", text: service) }
        }
        return xml.bytes
    }

    /// Logs in with a plain-text password (the protocol has no other kind).
    public static func authenticate(id: String, service: String, password: String, instance: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("iq", ["type": "set", "id": id]) {
            $0.element("query", ["xmlns": XMPPNamespace.legacyAuthentication]) {
                $0.element("username", text: service)
                $0.element("password", text: password)
                $0.element("resource", text: instance)
            }
        }
        return xml.bytes
    }

    /// Asks the server to start TLS (RFC 6120 §5).
    public static let startTLS: [UInt8] = {
        var xml = XMLWriter()
        xml.empty("starttls", ["xmlns": XMPPNamespace.tls])
        return xml.bytes
    }()

    /// A OneEvent document: the credentials inline, then the event.
    public static func oneEvent(_ event: Event, service: String, password: String) -> [UInt8] {
        var xml = XMLWriter(capacity: event.payload.count + 512)
        xml.element("inputEvent") {
            $0.element("authentication") {
                $0.element("passwordAuth") {
                    $0.element("service", text: service)
                    $0.element("password", text: password)
                }
            }
            $0.element("oneEvent") { $0.markup(StanzaEncoder.eventElement(event)) }
        }
        return xml.bytes
    }
}
