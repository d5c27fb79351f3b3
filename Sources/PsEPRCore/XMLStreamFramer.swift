public import NIOCore

/// What the framer cuts a connection's bytes into.
public enum StreamFrame: Sendable, Equatable {
    /// The stream header (`<stream:stream …>`), with its attributes.
    case streamOpened(attributes: [String: String])
    /// One complete top-level stanza, its original bytes.
    case stanza(ByteBuffer)
    /// The stream's end tag (`</stream:stream>`).
    case streamClosed
}

/// Cuts one never-ending XML stream into stanzas.
///
/// A client connection is a single XML document that never ends: a `<stream:stream>` root whose
/// children are the stanzas. The framer tracks depth through start and end tags, skipping
/// comments, CDATA sections, processing instructions and quoted attribute values (which may hold
/// `>`), and emits each stanza when the depth returns to the root's. It keeps its place between
/// calls, so input split at any byte gives the same frames, and several stanzas in one read come
/// out one by one.
///
/// It enforces bounds: stanza size, nesting depth and attributes per tag. DOCTYPE and every other
/// markup declaration is refused, so no entity can ever be defined or expanded. Between stanzas
/// only whitespace (the keep-alive) and comments are allowed.
///
/// In ``Mode/document`` mode (the OneEvent port) there is no stream header: each top-level
/// element is a stanza.
public struct XMLStreamFramer: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = StreamFrame

    /// Whether a stream header wraps the stanzas.
    public enum Mode: Sendable {
        /// `<stream:stream …>` stanzas… `</stream:stream>` (the client port).
        case stream
        /// Top-level elements one after another (the OneEvent port).
        case document
    }

    /// The bounds the framer enforces.
    public struct Limits: Sendable, Hashable {
        /// Largest stanza, and largest run of anything else not yet consumed, in bytes.
        public var maximumStanzaBytes: Int
        /// Deepest nesting, counting the stream root.
        public var maximumDepth: Int
        /// Most attributes on one tag.
        public var maximumAttributes: Int

        /// Bounds with the defaults: 256 KiB, depth 32, 32 attributes.
        public init(maximumStanzaBytes: Int = 256 << 10, maximumDepth: Int = 32, maximumAttributes: Int = 32) {
            self.maximumStanzaBytes = maximumStanzaBytes
            self.maximumDepth = maximumDepth
            self.maximumAttributes = maximumAttributes
        }
    }

    private enum Lexical {
        case content
        case tag(Tag)
        case comment
        case characterData
        case instruction
    }

    private struct Tag {
        let isEnd: Bool
        let start: Int
        var quote: UInt8?
        var attributes = 0
        var previous: UInt8 = 0
    }

    /// The framing mode.
    public let mode: Mode
    /// The bounds.
    public let limits: Limits
    private var lexical = Lexical.content
    private var depth = 0
    private var opened = false
    /// Where the stanza being scanned starts, relative to the reader index.
    private var stanzaStart: Int?
    /// How far the scan has got, relative to the reader index.
    private var offset = 0

    /// Creates a framer.
    public init(mode: Mode = .stream, limits: Limits = Limits()) {
        self.mode = mode
        self.limits = limits
    }

    /// Depth at which stanzas begin: inside the stream root, or at the top.
    private var stanzaDepth: Int { mode == .stream ? 1 : 0 }

    public mutating func decode(buffer: inout ByteBuffer) throws -> StreamFrame? {
        scanning: while offset < buffer.readableBytes {
            switch lexical {
            case .content:
                // Runs of text go by in one tight loop; only markup needs a closer look.
                let outside = depth <= stanzaDepth
                let start = offset
                let (next, stray) = buffer.withUnsafeReadableBytes { bytes -> (Int?, Bool) in
                    var index = start
                    while index < bytes.count {
                        let byte = bytes[index]
                        if byte == UInt8(ascii: "<") { return (index, false) }
                        if outside && !Self.isWhitespace(byte) { return (index, true) }
                        index += 1
                    }
                    return (nil, false)
                }
                if stray { throw PsEPRError(.malformedXML, "text outside a stanza") }
                guard let next else {
                    offset = buffer.readableBytes
                    try checkSize()
                    break scanning
                }
                offset = next
                guard try openMarkup(buffer.readableBytesView) else { break scanning }
            case .comment:
                guard let end = Self.find("-->", in: buffer.readableBytesView, from: offset) else { return nil }
                offset = end
                lexical = .content
            case .characterData:
                guard let end = Self.find("]]>", in: buffer.readableBytesView, from: offset) else { return nil }
                offset = end
                lexical = .content
            case .instruction:
                guard let end = Self.find("?>", in: buffer.readableBytesView, from: offset) else { return nil }
                offset = end
                lexical = .content
            case .tag(var tag):
                let maximumAttributes = limits.maximumAttributes
                let start = offset
                let (end, problem) = buffer.withUnsafeReadableBytes { bytes -> (Int?, PsEPRError?) in
                    var index = start
                    while index < bytes.count {
                        let byte = bytes[index]
                        index += 1
                        if let quote = tag.quote {
                            if byte == quote { tag.quote = nil }
                        } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                            tag.quote = byte
                        } else if byte == UInt8(ascii: "=") {
                            tag.attributes += 1
                            if tag.attributes > maximumAttributes {
                                return (nil, PsEPRError(.tooManyAttributes, "a tag has more than \(maximumAttributes) attributes"))
                            }
                        } else if byte == UInt8(ascii: ">") {
                            return (index, nil)
                        } else if byte == UInt8(ascii: "<") {
                            return (nil, PsEPRError(.malformedXML, "\"<\" inside a tag"))
                        }
                        tag.previous = byte
                    }
                    return (nil, nil)
                }
                if let problem { throw problem }
                guard let end else {
                    offset = buffer.readableBytes
                    lexical = .tag(tag)
                    try checkSize()
                    break scanning
                }
                offset = end
                lexical = .content
                try checkSize()
                if let frame = try closeTag(tag, selfClosing: !tag.isEnd && tag.previous == UInt8(ascii: "/"), buffer: &buffer) {
                    return frame
                }
                continue scanning
            }
            try checkSize()
        }
        // Between stanzas everything scanned is done with: drop it, so keep-alive whitespace
        // does not pile up in the buffer.
        if stanzaStart == nil, case .content = lexical, depth <= stanzaDepth { consume(&buffer) }
        return nil
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> StreamFrame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if stanzaStart != nil || buffer.readableBytes > 0 && !buffer.readableBytesView.allSatisfy(Self.isWhitespace) {
            throw PsEPRError(.truncated, "the stream ended inside a stanza")
        }
        return nil
    }

    /// Handles a `<` at `offset`. Returns false if more bytes are needed to tell what it opens.
    private mutating func openMarkup(_ bytes: ByteBufferView) throws -> Bool {
        func starts(with text: String) -> Bool? {
            let pattern = Array(text.utf8)
            let available = min(pattern.count, bytes.count - offset)
            for index in 0..<available where bytes[bytes.startIndex + offset + index] != pattern[index] { return false }
            return available == pattern.count ? true : nil
        }
        guard offset + 1 < bytes.count else { return false }
        switch bytes[bytes.startIndex + offset + 1] {
        case UInt8(ascii: "!"):
            let comment = starts(with: "<!--"), characterData = starts(with: "<![CDATA[")
            if comment == true {
                lexical = .comment
                offset += 4
            } else if characterData == true {
                guard depth > stanzaDepth else { throw PsEPRError(.malformedXML, "character data outside a stanza") }
                lexical = .characterData
                offset += 9
            } else if comment == nil || characterData == nil {
                return false
            } else {
                throw PsEPRError(.declarationRefused, "DOCTYPE and other declarations are not accepted")
            }
        case UInt8(ascii: "?"):
            lexical = .instruction
            offset += 2
        case UInt8(ascii: "/"):
            lexical = .tag(Tag(isEnd: true, start: offset))
            offset += 2
        default:
            if depth == stanzaDepth && (mode == .document || opened) { stanzaStart = offset }
            lexical = .tag(Tag(isEnd: false, start: offset))
            offset += 1
        }
        return true
    }

    /// Updates the depth at a tag's `>` and returns the frame it completes, if any.
    private mutating func closeTag(_ tag: Tag, selfClosing: Bool, buffer: inout ByteBuffer) throws -> StreamFrame? {
        if tag.isEnd {
            depth -= 1
            guard depth >= 0 else { throw PsEPRError(.malformedXML, "an end tag with no start tag") }
            if mode == .stream && depth == 0 {
                let view = buffer.readableBytesView
                let closing = view[(view.startIndex + tag.start + 2)..<(view.startIndex + offset - 1)]
                let name = String(decoding: closing, as: UTF8.self).trimmingXMLWhitespace()
                guard name.split(separator: ":").last == "stream" else {
                    throw PsEPRError(.malformedXML, "</\(name.prefix(40))> where </stream:stream> belongs")
                }
                // A new stream may follow on the same bytes, as after an XMPP stream restart.
                opened = false
                consume(&buffer)
                return .streamClosed
            }
            return depth == stanzaDepth ? emitStanza(&buffer) : nil
        }
        if mode == .stream && !opened {
            guard depth == 0 else { throw PsEPRError(.malformedXML, "an element before the stream header") }
            let view = buffer.readableBytesView
            let header = Array(view[(view.startIndex + tag.start)..<(view.startIndex + offset)])
            let element = try XMLElement.parseStartTag(header)
            guard element.localName == "stream" else {
                throw PsEPRError(.malformedXML, "the stream must open with <stream:stream>, not <\(element.name)>")
            }
            opened = true
            depth = selfClosing ? 0 : 1
            consume(&buffer)
            return .streamOpened(attributes: element.attributes)
        }
        if selfClosing {
            return depth == stanzaDepth ? emitStanza(&buffer) : nil
        }
        depth += 1
        guard depth <= limits.maximumDepth else { throw PsEPRError(.tooDeep, "elements nested deeper than \(limits.maximumDepth)") }
        return nil
    }

    private mutating func emitStanza(_ buffer: inout ByteBuffer) -> StreamFrame {
        let start = stanzaStart ?? 0
        buffer.moveReaderIndex(forwardBy: start)
        let stanza = buffer.readSlice(length: offset - start)!
        stanzaStart = nil
        offset = 0
        return .stanza(stanza)
    }

    private mutating func consume(_ buffer: inout ByteBuffer) {
        buffer.moveReaderIndex(forwardBy: offset)
        offset = 0
    }

    private func checkSize() throws {
        guard offset - (stanzaStart ?? 0) <= limits.maximumStanzaBytes else {
            throw PsEPRError(.stanzaTooLarge, "a stanza is larger than \(limits.maximumStanzaBytes) bytes")
        }
    }

    /// The offset just past `pattern` at or after `start`, or nil if it is not there yet.
    private static func find(_ pattern: StaticString, in bytes: ByteBufferView, from start: Int) -> Int? {
        let needle = UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount)
        guard bytes.count - start >= needle.count else { return nil }
        var index = start
        while index + needle.count <= bytes.count {
            var matches = true
            for (position, byte) in needle.enumerated() where bytes[bytes.startIndex + index + position] != byte {
                matches = false
                break
            }
            if matches { return index + needle.count }
            index += 1
        }
        return nil
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
