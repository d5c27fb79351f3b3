public import NIOCore

/// The one way this package writes XML: tags, attributes and text into a buffer, every text
/// and attribute value escaped (``XMLText/escape(_:)``), names and fixed markup as given.
///
/// Every stanza, payload and file the servers, the client and the mesh tools write goes through
/// it; the per-event encoders (``StanzaEncoder/writeMessage(_:id:into:)``, the peer and relay
/// wrappers) write their fixed tags as static strings through the same escaping primitive,
/// ``NIOCore/ByteBuffer/writeXMLText(_:)``.
public struct XMLWriter {
    /// Which quote attribute values are written in.
    public enum Quote: Sendable {
        /// `'`, the servers' and the original's.
        case single
        /// `"`, as the Stork client wrote its stream header.
        case double
    }

    /// What has been written.
    public private(set) var buffer: ByteBuffer
    private let quote: Quote

    public init(capacity: Int = 256, quote: Quote = .single) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
        self.quote = quote
    }

    /// What has been written, as bytes.
    public var bytes: [UInt8] { Array(buffer.readableBytesView) }

    /// What has been written, as text.
    public var string: String { String(buffer: buffer) }

    /// `<name a='v' …>`; attributes whose value is nil are left out.
    public mutating func start(_ name: String, _ attributes: KeyValuePairs<String, String?> = [:]) {
        open(name, attributes)
        buffer.writeStaticString(">")
    }

    /// `</name>`.
    public mutating func end(_ name: String) {
        buffer.writeStaticString("</")
        buffer.writeString(name)
        buffer.writeStaticString(">")
    }

    /// `<name a='v' …/>`.
    public mutating func empty(_ name: String, _ attributes: KeyValuePairs<String, String?> = [:]) {
        open(name, attributes)
        buffer.writeStaticString("/>")
    }

    /// `<name …>text</name>`, the text escaped.
    public mutating func element(_ name: String, _ attributes: KeyValuePairs<String, String?> = [:], text: String) {
        start(name, attributes)
        buffer.writeXMLText(text)
        end(name)
    }

    /// `<name …>`, what `content` writes, `</name>`.
    public mutating func element(
        _ name: String,
        _ attributes: KeyValuePairs<String, String?> = [:],
        content: (inout XMLWriter) -> Void
    ) {
        start(name, attributes)
        content(&self)
        end(name)
    }

    /// Text, escaped.
    public mutating func text(_ text: String) { buffer.writeXMLText(text) }

    /// Markup written as it is: a fixed fragment, whitespace between elements, or XML another
    /// writer produced.
    public mutating func markup(_ xml: String) { buffer.writeString(xml) }

    /// Bytes of markup written as they are (a payload forwarded as it came).
    public mutating func markup(_ bytes: some Sequence<UInt8>) { buffer.writeBytes(bytes) }

    private mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String?>) {
        buffer.writeStaticString("<")
        buffer.writeString(name)
        for case let (key, value?) in attributes {
            buffer.writeStaticString(" ")
            buffer.writeString(key)
            switch quote {
            case .single: buffer.writeStaticString("='")
            case .double: buffer.writeStaticString("=\"")
            }
            buffer.writeXMLText(value)
            switch quote {
            case .single: buffer.writeStaticString("'")
            case .double: buffer.writeStaticString("\"")
            }
        }
    }
}

/// Escaping for XML text and attribute values.
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

extension ByteBuffer {
    /// Writes `text` escaped for XML text or a quoted attribute (copied as it is when nothing
    /// needs escaping, the usual case).
    public mutating func writeXMLText(_ text: String) {
        let special = text.utf8.contains {
            $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"")
                || $0 == UInt8(ascii: "'")
        }
        writeString(special ? XMLText.escape(text) : text)
    }

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
}
