/// One parsed XML element: a small DOM for stanzas the framer has already bounded.
///
/// Character data and attribute values are decoded (the five predefined entities and numeric
/// character references; any other entity is an error, since no DTD is ever read). Each element
/// records the byte range it came from, so a router can forward a `<payload>` as its original
/// bytes instead of re-serialising it.
public struct ParsedElement: Sendable, Hashable {
    /// The qualified name, e.g. `stream:stream`.
    public var name: String
    /// The attributes, by qualified name (including `xmlns` declarations).
    public var attributes: [String: String]
    /// The child elements, in order.
    public var children: [ParsedElement]
    /// The character data directly inside this element, decoded and concatenated.
    public var text: String
    /// Where the element's bytes are in the parsed input.
    public var byteRange: Range<Int>

    /// The name without its prefix.
    public var localName: Substring { name.split(separator: ":", maxSplits: 1).last ?? Substring(name) }

    /// The first child with this local name.
    public func child(_ localName: String) -> ParsedElement? { children.first { $0.localName == localName } }

    /// The text of the first child with this local name, trimmed; `nil` if absent or empty.
    public func childText(_ localName: String) -> String? {
        guard let text = child(localName)?.text.trimmingXMLWhitespace(), !text.isEmpty else { return nil }
        return text
    }

    /// Parses one complete element (a stanza).
    ///
    /// It is checked for XML 1.0 well-formedness by ``XMLSyntax``, the rules the framer and the
    /// envelope scanner apply too. Before and after the element only whitespace, comments and
    /// processing instructions may stand (and, first of all, a byte order mark and the XML
    /// declaration).
    ///
    /// - Parameter maximumDepth: deepest nesting accepted.
    /// - Throws: ``PsEPRError/Code/malformedXML`` unless `bytes` is exactly one well-formed element
    ///   (surrounding whitespace allowed); ``PsEPRError/Code/declarationRefused`` for a DOCTYPE.
    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = 32) throws -> ParsedElement {
        let source = Array(bytes)
        return try source.withUnsafeBytes { raw in
            var parser = Parser(bytes: raw, maximumDepth: maximumDepth)
            if XMLSyntax.starts(raw, at: 0, with: "\u{FEFF}") { parser.position = 3 }
            try parser.skipMisc(allowDeclaration: true)
            guard parser.position < raw.count else { throw PsEPRError(.malformedXML, "no element") }
            let element = try parser.element(depth: 1)
            try parser.skipMisc(allowDeclaration: false)
            guard parser.position == raw.count else { throw PsEPRError(.malformedXML, "content after the element") }
            return element
        }
    }

    /// Parses a start tag on its own (the stream header, which is never closed in the same read).
    static func parseStartTag(_ bytes: [UInt8]) throws -> ParsedElement {
        try bytes.withUnsafeBytes { raw in
            var parser = Parser(bytes: raw, maximumDepth: 1)
            let (name, attributes, tag) = try parser.startTag()
            return ParsedElement(name: name, attributes: attributes, children: [], text: "", byteRange: 0..<tag.end)
        }
    }
}

/// Builds the DOM; every check is ``XMLSyntax``'s.
private struct Parser {
    let bytes: UnsafeRawBufferPointer
    let maximumDepth: Int
    var position = 0

    init(bytes: UnsafeRawBufferPointer, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    /// Whitespace, comments and processing instructions around the element.
    mutating func skipMisc(allowDeclaration: Bool) throws {
        var declarationAllowed = allowDeclaration
        while true {
            while position < bytes.count, XMLSyntax.isWhitespace(bytes[position]) { position += 1 }
            guard position < bytes.count else { return }
            guard bytes[position] == UInt8(ascii: "<") else {
                throw PsEPRError(.malformedXML, "text outside the element")
            }
            switch try XMLSyntax.markup(bytes, at: position) {
            case .comment: position = try XMLSyntax.comment(bytes, at: position)
            case .instruction:
                position = try XMLSyntax.instruction(bytes, at: position, allowDeclaration: declarationAllowed)
            case .declaration: throw XMLSyntax.declarationRefused()
            case .characterData: throw PsEPRError(.malformedXML, "character data outside the element")
            case .startTag, .endTag: return
            }
            declarationAllowed = false
        }
    }

    /// `<name attr="value" …` up to and including `>` or `/>`, attributes decoded.
    mutating func startTag() throws -> (name: String, attributes: [String: String], tag: XMLSyntax.StartTag) {
        let bytes = self.bytes
        var attributes: [String: String] = [:]
        let tag = try XMLSyntax.startTag(bytes, at: position) { name, value in
            attributes[XMLSyntax.text(bytes, name)] = Self.decoded(bytes, value)
        }
        position = tag.end
        return (XMLSyntax.text(bytes, tag.name), attributes, tag)
    }

    static func decoded(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(range.count)
        XMLSyntax.decode(bytes, range, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    mutating func element(depth: Int) throws -> ParsedElement {
        guard depth <= maximumDepth else { throw PsEPRError(.tooDeep, "elements nested deeper than \(maximumDepth)") }
        let start = position
        guard bytes[position] == UInt8(ascii: "<"), try XMLSyntax.markup(bytes, at: position) == .startTag else {
            throw PsEPRError(.malformedXML, "expected an element")
        }
        let (tagName, attributes, tag) = try startTag()
        var element = ParsedElement(
            name: tagName,
            attributes: attributes,
            children: [],
            text: "",
            byteRange: start..<position
        )
        if tag.isSelfClosing { return element }
        var text: [UInt8] = []
        while true {
            let markupStart = try XMLSyntax.checkCharacterData(bytes, from: position, until: UInt8(ascii: "<"))
            if markupStart > position { XMLSyntax.decode(bytes, position..<markupStart, into: &text) }
            position = markupStart
            guard position < bytes.count else { throw PsEPRError(.malformedXML, "<\(tagName)> is not closed") }
            switch try XMLSyntax.markup(bytes, at: position) {
            case .endTag:
                position = try XMLSyntax.endTag(bytes, at: position, closing: tag.name)
                element.text = String(decoding: text, as: UTF8.self)
                element.byteRange = start..<position
                return element
            case .comment:
                position = try XMLSyntax.comment(bytes, at: position)
            case .characterData:
                let (content, end) = try XMLSyntax.characterData(bytes, at: position)
                text += UnsafeRawBufferPointer(rebasing: bytes[content])
                position = end
            case .instruction:
                position = try XMLSyntax.instruction(bytes, at: position, allowDeclaration: false)
            case .declaration:
                throw XMLSyntax.declarationRefused()
            case .startTag:
                element.children.append(try self.element(depth: depth + 1))
            }
        }
    }
}

extension StringProtocol {
    /// The string without leading and trailing XML whitespace and Unicode line separators (the
    /// original's `cleanXMLText`).
    func trimmingXMLWhitespace() -> String {
        let trimmed = self.unicodeScalars.filter { $0 != "\u{2028}" && $0 != "\u{2029}" }
        var scalars = Substring(String(String.UnicodeScalarView(trimmed)))
        while let first = scalars.unicodeScalars.first, first == " " || first == "\n" || first == "\r" || first == "\t"
        { scalars = scalars.dropFirst() }
        while let last = scalars.unicodeScalars.last, last == " " || last == "\n" || last == "\r" || last == "\t" {
            scalars = scalars.dropLast()
        }
        return String(scalars)
    }
}
