/// One parsed XML element: a small DOM for stanzas the framer has already bounded.
///
/// Character data and attribute values are decoded (the five predefined entities and numeric
/// character references; any other entity is an error, since no DTD is ever read). Each element
/// records the byte range it came from, so a router can forward a `<payload>` as its original
/// bytes instead of re-serialising it.
public struct XMLElement: Sendable, Hashable {
    /// The qualified name, e.g. `stream:stream`.
    public var name: String
    /// The attributes, by qualified name (including `xmlns` declarations).
    public var attributes: [String: String]
    /// The child elements, in order.
    public var children: [XMLElement]
    /// The character data directly inside this element, decoded and concatenated.
    public var text: String
    /// Where the element's bytes are in the parsed input.
    public var byteRange: Range<Int>

    /// The name without its prefix.
    public var localName: Substring { name.split(separator: ":", maxSplits: 1).last ?? Substring(name) }

    /// The first child with this local name.
    public func child(_ localName: String) -> XMLElement? { children.first { $0.localName == localName } }

    /// The text of the first child with this local name, trimmed; `nil` if absent or empty.
    public func childText(_ localName: String) -> String? {
        guard let text = child(localName)?.text.trimmingXMLWhitespace(), !text.isEmpty else { return nil }
        return text
    }

    /// Parses one complete element (a stanza).
    ///
    /// - Parameter maximumDepth: deepest nesting accepted.
    /// - Throws: ``PsEPRError/Code/malformedXML`` unless `bytes` is exactly one well-formed element
    ///   (surrounding whitespace allowed).
    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = 32) throws -> XMLElement {
        var parser = Parser(bytes: Array(bytes), maximumDepth: maximumDepth)
        parser.skipMisc()
        let element = try parser.element(depth: 1)
        parser.skipMisc()
        guard parser.position == parser.bytes.count else { throw PsEPRError(.malformedXML, "content after the element") }
        return element
    }

    /// Parses a start tag on its own (the stream header, which is never closed in the same read).
    static func parseStartTag(_ bytes: [UInt8]) throws -> XMLElement {
        var parser = Parser(bytes: bytes, maximumDepth: 1)
        let (name, attributes, _) = try parser.startTag()
        return XMLElement(name: name, attributes: attributes, children: [], text: "", byteRange: 0..<parser.position)
    }
}

private struct Parser {
    let bytes: [UInt8]
    let maximumDepth: Int
    var position = 0

    init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    func fail(_ reason: String) -> PsEPRError { PsEPRError(.malformedXML, reason) }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    func hasPrefix(_ text: String) -> Bool {
        let pattern = Array(text.utf8)
        return position + pattern.count <= bytes.count && Array(bytes[position..<(position + pattern.count)]) == pattern
    }

    mutating func skip(past terminator: String) throws {
        while !hasPrefix(terminator) {
            guard position < bytes.count else { throw fail("unterminated \(terminator) section") }
            position += 1
        }
        position += terminator.utf8.count
    }

    mutating func skipWhitespace() {
        while let byte = current, XMLStreamFramer.isWhitespace(byte) { position += 1 }
    }

    /// Whitespace, comments and processing instructions around an element.
    mutating func skipMisc() {
        while true {
            skipWhitespace()
            if hasPrefix("<!--") {
                position += 4
                guard (try? skip(past: "-->")) != nil else { return }
            } else if hasPrefix("<?") {
                guard (try? skip(past: "?>")) != nil else { return }
            } else {
                return
            }
        }
    }

    mutating func name() throws -> String {
        let start = position
        while let byte = current, !XMLStreamFramer.isWhitespace(byte), ![UInt8(ascii: "="), UInt8(ascii: ">"), UInt8(ascii: "/"), UInt8(ascii: "<"), UInt8(ascii: "\""), UInt8(ascii: "'")].contains(byte) {
            position += 1
        }
        guard position > start else { throw fail("a name is missing") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// `<name attr="value" …` up to and including `>` or `/>`.
    mutating func startTag() throws -> (name: String, attributes: [String: String], selfClosing: Bool) {
        guard current == UInt8(ascii: "<") else { throw fail("expected \"<\"") }
        position += 1
        let tagName = try name()
        var attributes: [String: String] = [:]
        while true {
            skipWhitespace()
            guard let byte = current else { throw fail("unterminated tag <\(tagName)>") }
            if byte == UInt8(ascii: ">") {
                position += 1
                return (tagName, attributes, false)
            }
            if hasPrefix("/>") {
                position += 2
                return (tagName, attributes, true)
            }
            let attribute = try name()
            skipWhitespace()
            guard current == UInt8(ascii: "=") else { throw fail("attribute \(attribute) has no value") }
            position += 1
            skipWhitespace()
            guard let quote = current, quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw fail("attribute \(attribute) is not quoted")
            }
            position += 1
            let start = position
            while let next = current, next != quote {
                guard next != UInt8(ascii: "<") else { throw fail("\"<\" in attribute \(attribute)") }
                position += 1
            }
            guard current == quote else { throw fail("unterminated attribute \(attribute)") }
            guard attributes[attribute] == nil else { throw fail("attribute \(attribute) appears twice") }
            attributes[attribute] = try decode(bytes[start..<position])
            position += 1
        }
    }

    mutating func element(depth: Int) throws -> XMLElement {
        guard depth <= maximumDepth else { throw PsEPRError(.tooDeep, "elements nested deeper than \(maximumDepth)") }
        let start = position
        let (tagName, attributes, selfClosing) = try startTag()
        var element = XMLElement(name: tagName, attributes: attributes, children: [], text: "", byteRange: start..<position)
        if selfClosing { return element }
        var text: [UInt8] = []
        while true {
            guard let byte = current else { throw fail("<\(tagName)> is not closed") }
            if byte != UInt8(ascii: "<") {
                let textStart = position
                while let next = current, next != UInt8(ascii: "<") { position += 1 }
                text += Array(try decode(bytes[textStart..<position]).utf8)
            } else if hasPrefix("</") {
                position += 2
                let closing = try name()
                skipWhitespace()
                guard closing == tagName, current == UInt8(ascii: ">") else { throw fail("<\(tagName)> closed by </\(closing)>") }
                position += 1
                element.text = String(decoding: text, as: UTF8.self)
                element.byteRange = start..<position
                return element
            } else if hasPrefix("<!--") {
                position += 4
                try skip(past: "-->")
            } else if hasPrefix("<![CDATA[") {
                position += 9
                let dataStart = position
                try skip(past: "]]>")
                text += bytes[dataStart..<(position - 3)]
            } else if hasPrefix("<?") {
                try skip(past: "?>")
            } else if hasPrefix("<!") {
                throw PsEPRError(.declarationRefused, "declarations are not accepted")
            } else {
                element.children.append(try self.element(depth: depth + 1))
            }
        }
    }

    /// Character data with entity and character references replaced.
    func decode(_ raw: ArraySlice<UInt8>) throws -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var output: [UInt8] = []
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            guard byte == UInt8(ascii: "&") else {
                output.append(byte)
                index += 1
                continue
            }
            guard let end = raw[index...].firstIndex(of: UInt8(ascii: ";")), end - index <= 12 else {
                throw fail("an unterminated entity reference")
            }
            let entity = String(decoding: raw[(index + 1)..<end], as: UTF8.self)
            switch entity {
            case "lt": output.append(UInt8(ascii: "<"))
            case "gt": output.append(UInt8(ascii: ">"))
            case "amp": output.append(UInt8(ascii: "&"))
            case "quot": output.append(UInt8(ascii: "\""))
            case "apos": output.append(UInt8(ascii: "'"))
            default:
                let value: UInt32?
                if entity.hasPrefix("#x") {
                    value = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    value = UInt32(entity.dropFirst())
                } else {
                    throw fail("undefined entity &\(entity);")
                }
                guard let value, let scalar = Unicode.Scalar(value), value != 0 else { throw fail("bad character reference &\(entity);") }
                output += Array(String(Character(scalar)).utf8)
            }
            index = end + 1
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension StringProtocol {
    /// The string without leading and trailing XML whitespace and Unicode line separators (the
    /// original's `cleanXMLText`).
    func trimmingXMLWhitespace() -> String {
        let trimmed = self.unicodeScalars.filter { $0 != "\u{2028}" && $0 != "\u{2029}" }
        var scalars = Substring(String(String.UnicodeScalarView(trimmed)))
        while let first = scalars.unicodeScalars.first, first == " " || first == "\n" || first == "\r" || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.unicodeScalars.last, last == " " || last == "\n" || last == "\r" || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
