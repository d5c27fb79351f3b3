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
/// only whitespace (the keep-alive), comments and processing instructions are allowed; they are
/// checked by ``XMLSyntax`` when they end, and each may be as long as a stanza. Every bound is a
/// property of the bytes alone, so the verdict is the same however the input is split into
/// reads. A stanza's content is checked by whoever reads it (``EventScanner`` or ``ParsedElement``,
/// both through ``XMLSyntax``): a stanza that is framed but not well-formed is refused on its own,
/// and the stream goes on.
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
        /// A comment, from the offset of its `<!--`.
        case comment(start: Int)
        case characterData
        /// A processing instruction, from the offset of its `<?`.
        case instruction(start: Int)
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

    /// Whether the framer stands between two stanzas of an open stream with nothing scanned and
    /// unconsumed: what comes next may be cut by someone else (a whole stanza taken off the
    /// front of the input leaves the framer as it would be after emitting it).
    public var isBetweenStanzas: Bool {
        guard mode == .stream, opened, depth == stanzaDepth, stanzaStart == nil, offset == 0, case .content = lexical
        else { return false }
        return true
    }

    /// Depth at which stanzas begin: inside the stream root, or at the top.
    private var stanzaDepth: Int { mode == .stream ? 1 : 0 }

    public mutating func decode(buffer: inout ByteBuffer) throws -> StreamFrame? {
        while true {
            // One pass over the bytes, stopping only where a frame may end or more input is needed.
            let stop = try buffer.withUnsafeReadableBytes { try scan($0) }
            try checkSize()
            guard case .tagClosed(let tag, let selfClosing) = stop else { break }
            if let frame = try closeTag(tag, selfClosing: selfClosing, buffer: &buffer) { return frame }
        }
        // Between stanzas everything scanned is done with: drop it, so keep-alive whitespace
        // does not pile up in the buffer.
        if stanzaStart == nil, case .content = lexical, depth <= stanzaDepth { consume(&buffer) }
        return nil
    }

    private enum Stop {
        /// The input is used up (or ends inside markup that needs more bytes).
        case needMore
        /// A tag closed where a frame may begin or end; ``closeTag(_:selfClosing:buffer:)`` decides.
        case tagClosed(Tag, selfClosing: Bool)
    }

    /// Scans from `offset`, tracking depth through tags, until a tag closes at a frame boundary
    /// (the stream header, a stanza's end, the stream's end) or the bytes run out.
    private mutating func scan(_ bytes: UnsafeRawBufferPointer) throws -> Stop {
        let count = bytes.count
        var index = offset
        defer { offset = index }
        while index < count {
            switch lexical {
            case .content:
                // Runs of text go by in a tight loop; between stanzas only whitespace may appear.
                if depth <= stanzaDepth {
                    while index < count, bytes[index] != UInt8(ascii: "<") {
                        guard Self.isWhitespace(bytes[index]) else {
                            throw PsEPRError(.malformedXML, "text outside a stanza")
                        }
                        index += 1
                    }
                } else {
                    index = bytes.firstIndex(of: UInt8(ascii: "<"), from: index) ?? count
                }
                guard index < count else { return .needMore }
                guard index + 1 < count else { return .needMore }
                switch bytes[index + 1] {
                case UInt8(ascii: "!"):
                    let comment = Self.starts(bytes, at: index, with: "<!--")
                    let characterData = Self.starts(bytes, at: index, with: "<![CDATA[")
                    if comment == true {
                        lexical = .comment(start: index)
                        index += 4
                    } else if characterData == true {
                        guard depth > stanzaDepth else {
                            throw PsEPRError(.malformedXML, "character data outside a stanza")
                        }
                        lexical = .characterData
                        index += 9
                    } else if comment == nil || characterData == nil {
                        return .needMore
                    } else {
                        throw PsEPRError(.declarationRefused, "DOCTYPE and other declarations are not accepted")
                    }
                case UInt8(ascii: "?"):
                    lexical = .instruction(start: index)
                    index += 2
                case UInt8(ascii: "/"):
                    lexical = .tag(Tag(isEnd: true, start: index))
                    index += 2
                default:
                    if depth == stanzaDepth && (mode == .document || opened) { stanzaStart = index }
                    lexical = .tag(Tag(isEnd: false, start: index))
                    index += 1
                }
            case .comment(let start):
                guard let end = Self.find("-->", in: bytes, from: index) else {
                    index = max(index, count - 2)  // resume where a split terminator could begin
                    return .needMore
                }
                index = end
                lexical = .content
                // Inside a stanza the stanza's reader checks it; between stanzas, here.
                if stanzaStart == nil {
                    try checkLength(of: start..<end, "a comment between stanzas")
                    _ = try XMLSyntax.comment(bytes, at: start)
                }
            case .characterData:
                guard let end = Self.find("]]>", in: bytes, from: index) else {
                    index = max(index, count - 2)
                    return .needMore
                }
                index = end
                lexical = .content
            case .instruction(let start):
                guard let end = Self.find("?>", in: bytes, from: index) else {
                    index = max(index, count - 1)
                    return .needMore
                }
                index = end
                lexical = .content
                if stanzaStart == nil {
                    try checkLength(of: start..<end, "a processing instruction between stanzas")
                    // The XML declaration may open a stream (again, after a restart) or a document.
                    _ = try XMLSyntax.instruction(bytes, at: start, allowDeclaration: mode == .document || !opened)
                }
            case .tag(var tag):
                var closed = false
                while index < count {
                    let byte = bytes[index]
                    index += 1
                    if let quote = tag.quote {
                        if byte == quote { tag.quote = nil }
                    } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                        tag.quote = byte
                    } else if byte == UInt8(ascii: "=") {
                        tag.attributes += 1
                        guard tag.attributes <= limits.maximumAttributes else {
                            throw PsEPRError(
                                .tooManyAttributes,
                                "a tag has more than \(limits.maximumAttributes) attributes"
                            )
                        }
                    } else if byte == UInt8(ascii: ">") {
                        closed = true
                        break
                    } else if byte == UInt8(ascii: "<") {
                        throw PsEPRError(.malformedXML, "\"<\" inside a tag")
                    }
                    tag.previous = byte
                }
                guard closed else {
                    lexical = .tag(tag)
                    return .needMore
                }
                lexical = .content
                if stanzaStart == nil { try checkLength(of: tag.start..<index, "a tag between stanzas") }
                let selfClosing = !tag.isEnd && tag.previous == UInt8(ascii: "/")
                if tag.isEnd {
                    // The end of a stanza, of the stream, or an unbalanced end tag: closeTag decides.
                    if depth - 1 <= stanzaDepth { return .tagClosed(tag, selfClosing: false) }
                    depth -= 1
                } else if mode == .stream && !opened {
                    return .tagClosed(tag, selfClosing: selfClosing)
                } else if selfClosing {
                    if depth == stanzaDepth { return .tagClosed(tag, selfClosing: true) }
                } else {
                    depth += 1
                    guard depth <= limits.maximumDepth else {
                        throw PsEPRError(.tooDeep, "elements nested deeper than \(limits.maximumDepth)")
                    }
                }
            }
        }
        return .needMore
    }

    /// Whether `bytes` at `index` begin with `pattern`: nil when too few bytes are there to tell.
    private static func starts(_ bytes: UnsafeRawBufferPointer, at index: Int, with pattern: StaticString) -> Bool? {
        let available = min(pattern.utf8CodeUnitCount, bytes.count - index)
        if XMLSyntax.starts(bytes, at: index, with: pattern) { return true }
        for position in 0..<available where bytes[index + position] != pattern.utf8Start[position] { return false }
        return nil
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> StreamFrame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if stanzaStart != nil || buffer.readableBytes > 0 && !buffer.readableBytesView.allSatisfy(Self.isWhitespace) {
            throw PsEPRError(.truncated, "the stream ended inside a stanza")
        }
        return nil
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
            let element = try ParsedElement.parseStartTag(header)
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
        guard depth <= limits.maximumDepth else {
            throw PsEPRError(.tooDeep, "elements nested deeper than \(limits.maximumDepth)")
        }
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

    /// Bounds what is held unfinished: the stanza so far, or the markup between stanzas that is
    /// not finished yet (whitespace between stanzas is consumed as it comes and costs nothing).
    /// What is measured is always a prefix of one stanza or one piece of markup, so a run too long
    /// in pieces is too long in one read, and the other way round.
    private func checkSize() throws {
        let start: Int
        if let stanzaStart {
            start = stanzaStart
        } else {
            switch lexical {
            case .comment(let markupStart), .instruction(let markupStart): start = markupStart
            case .tag(let tag): start = tag.start
            case .content, .characterData: start = offset
            }
        }
        guard offset - start <= limits.maximumStanzaBytes else {
            throw PsEPRError(
                .stanzaTooLarge,
                stanzaStart == nil
                    ? "markup between stanzas is larger than \(limits.maximumStanzaBytes) bytes"
                    : "a stanza is larger than \(limits.maximumStanzaBytes) bytes"
            )
        }
    }

    /// The bound on one finished piece of markup between stanzas: that of a stanza.
    private func checkLength(of range: Range<Int>, _ what: String) throws {
        guard range.count <= limits.maximumStanzaBytes else {
            throw PsEPRError(.stanzaTooLarge, "\(what) is larger than \(limits.maximumStanzaBytes) bytes")
        }
    }

    /// The offset just past `pattern` at or after `start`, or nil if it is not there yet.
    private static func find(_ pattern: StaticString, in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        XMLSyntax.find(bytes, pattern, from: start).map { $0 + pattern.utf8CodeUnitCount }
    }

    public static func isWhitespace(_ byte: UInt8) -> Bool { XMLSyntax.isWhitespace(byte) }
}
