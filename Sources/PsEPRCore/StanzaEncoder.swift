public import NIOCore

/// Escaping for text and attribute values.
public enum XMLText {
    /// `&`, `<`, `>`, `"` and `'` replaced by their entities: safe in text and in either kind of quoted attribute.
    public static func escape(_ text: some StringProtocol) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&apos;"
            default: output.unicodeScalars.append(character)
            }
        }
        return output
    }
}

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
        Array(
            ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
                + " from='\(XMLText.escape(serverName))' id='\(XMLText.escape(streamID))' version='1.0'>"
                + "<stream:features>\(features)</stream:features>").utf8
        )
    }

    /// The stream feature advertising legacy `jabber:iq:auth` (XEP-0078).
    public static let legacyAuthenticationFeature = "<auth xmlns='http://jabber.org/features/iq-auth'/>"

    /// The end of the stream.
    public static let streamEnd: [UInt8] = Array("</stream:stream>".utf8)

    /// A stream error (RFC 6120 §4.9) naming `condition` and why, followed by the end of the
    /// stream: what a connection the server ends for its own reasons receives last.
    public static func streamErrorAndEnd(condition: String, text: String) -> [UInt8] {
        Array(
            ("<stream:error><\(condition) xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                + "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\(XMLText.escape(text))</text></stream:error></stream:stream>")
                .utf8
        )
    }

    /// The answer to `iq get` on `jabber:iq:auth`: the fields the server wants.
    public static func authenticationFields(id: String, username: String?) -> [UInt8] {
        let user = username.map { "<username>\(XMLText.escape($0))</username>" } ?? "<username/>"
        return Array(
            "<iq type='result' id='\(XMLText.escape(id))'><query xmlns='jabber:iq:auth'>\(user)<password/><resource/></query></iq>"
                .utf8
        )
    }

    /// A successful `iq set`.
    public static func authenticationSucceeded(id: String) -> [UInt8] {
        Array("<iq type='result' id='\(XMLText.escape(id))'/>".utf8)
    }

    /// A failed `iq set` (XMPP's not-authorized).
    public static func authenticationFailed(id: String) -> [UInt8] {
        Array(
            ("<iq type='error' id='\(XMLText.escape(id))'><error code='401' type='auth'>"
                + "<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>").utf8
        )
    }

    /// An error about a message (malformed event, refused operation), echoing its `id`.
    public static func messageError(id: String?, condition: String, text: String) -> [UInt8] {
        let identifier = id.map { " id='\(XMLText.escape($0))'" } ?? ""
        return Array(
            ("<message type='error'\(identifier)><error type='modify'><\(condition) xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                + "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>\(XMLText.escape(text))</text></error></message>")
                .utf8
        )
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
        buffer.writeEscapedXML(id)
        buffer.writeStaticString("'>")
        writeEvent(event, into: &buffer)
        buffer.writeStaticString("</message>")
    }

    /// Writes a `<message>` around an `<event>` element forwarded as it came (one that stands on
    /// its own: see ``EventScanner/Scanned/selfContainedElement``).
    public static func writeMessage(forwarding eventElement: ByteBuffer, id: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<message id='")
        buffer.writeEscapedXML(id)
        buffer.writeStaticString("'>")
        buffer.writeImmutableBuffer(eventElement)
        buffer.writeStaticString("</message>")
    }

    /// ``writeMessage(forwarding:id:into:)`` with the id `m<number>`, written without building a string.
    public static func writeMessage(forwarding eventElement: ByteBuffer, number: UInt64, into buffer: inout ByteBuffer)
    {
        // The bulk of what a router writes: in one reservation of the buffer rather than a
        // write (and a check of the buffer's ownership) per piece.
        let element = eventElement.readableBytes
        let prefix = "<message id='m".utf8.count
        let suffix = "</message>".utf8.count
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: prefix + 20 + 2 + element + suffix) { space in
            var index = 0
            func put(_ text: StaticString) {
                let count = text.utf8CodeUnitCount
                UnsafeMutableRawBufferPointer(rebasing: space[index..<(index + count)]).copyMemory(
                    from: UnsafeRawBufferPointer(start: text.utf8Start, count: count)
                )
                index += count
            }
            put("<message id='m")
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
            put("'>")
            eventElement.withUnsafeReadableBytes {
                UnsafeMutableRawBufferPointer(rebasing: space[index..<(index + element)]).copyMemory(from: $0)
            }
            index += element
            put("</message>")
            return index
        }
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
        buffer.writeEscapedXML(text)
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

extension ByteBuffer {
    /// Writes `text` escaped for XML text or a quoted attribute (copied as it is when nothing
    /// needs escaping, the usual case).
    /// Writes `value` in decimal digits.
    public mutating func writeDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        let count = withUnsafeMutableBytes(of: &digits) { space -> Int in
            var remaining = value
            var index = space.count
            repeat {
                index -= 1
                space[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            } while remaining > 0
            return space.count - index
        }
        _ = withUnsafeBytes(of: &digits) { writeBytes(UnsafeRawBufferPointer(rebasing: $0[($0.count - count)...])) }
    }

    mutating func writeEscapedXML(_ text: String) {
        let special = text.utf8.contains {
            $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"")
                || $0 == UInt8(ascii: "'")
        }
        writeString(special ? XMLText.escape(text) : text)
    }
}

/// The stanzas a PsEPR client sends to log in: a stream header, then legacy `jabber:iq:auth`
/// (XEP-0078) in two steps, as the original's clients did.
public enum ClientStanzas {
    /// The client's stream header, as the Stork client wrote it.
    public static func streamHeader(to host: String) -> [UInt8] {
        Array(
            ("<?xml version=\"1.0\" encoding=\"UTF-8\" ?><stream:stream to=\"\(XMLText.escape(host))\""
                + " xmlns=\"jabber:client\" xmlns:stream=\"http://etherx.jabber.org/streams\">").utf8
        )
    }

    /// Asks which fields the login needs.
    public static func authenticationQuery(id: String, service: String) -> [UInt8] {
        Array(
            "<iq type='get' id='\(XMLText.escape(id))'><query xmlns='jabber:iq:auth'><username>\(XMLText.escape(service))</username></query></iq>"
                .utf8
        )
    }

    /// Logs in with a plain-text password (the protocol has no other kind).
    public static func authenticate(id: String, service: String, password: String, instance: String) -> [UInt8] {
        Array(
            ("<iq type='set' id='\(XMLText.escape(id))'><query xmlns='jabber:iq:auth'><username>\(XMLText.escape(service))</username>"
                + "<password>\(XMLText.escape(password))</password><resource>\(XMLText.escape(instance))</resource></query></iq>")
                .utf8
        )
    }

    /// A OneEvent document: the credentials inline, then the event.
    public static func oneEvent(_ event: Event, service: String, password: String) -> [UInt8] {
        Array(
            ("<inputEvent><authentication><passwordAuth><service>\(XMLText.escape(service))</service>"
                + "<password>\(XMLText.escape(password))</password></passwordAuth></authentication><oneEvent>").utf8
        ) + StanzaEncoder.eventElement(event) + Array("</oneEvent></inputEvent>".utf8)
    }
}
