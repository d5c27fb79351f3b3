import CXMLScan

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The lexical rules of XML 1.0 (fifth edition) well-formedness, over raw bytes.
///
/// The framer, the envelope scanner and the full parser all read markup through these
/// functions and nothing else, so the fast path and the parser accept exactly the same
/// language: a stanza one of them refuses, the other refuses too, and nothing a conforming
/// parser (expat, as XMPP libraries use) would reject is ever forwarded.
///
/// What is enforced:
/// - UTF-8 that decodes (no overlong forms, no surrogates, nothing past U+10FFFF) to XML `Char`s
///   only: no NUL, no C0 control other than tab, CR and LF, no U+FFFE or U+FFFF.
/// - Names: the ASCII part of the `Name` production (`:`, `_`, letters; then also digits, `-`
///   and `.`). A name with any non-ASCII character is refused: the fifth edition's name classes
///   are wider than the tables deployed parsers (expat) still use, and forwarding a name one
///   subscriber's parser rejects would break that subscriber.
/// - Start tags: attributes separated by whitespace, each with a quoted value, no `<` in a
///   value, no attribute twice, at most ``maximumAttributes``.
/// - References: the five predefined entities, and character references to legal `Char`s.
/// - Text never contains `]]>`; comments never contain `--`; processing instruction targets are
///   names other than `xml` in any case (the XML declaration is allowed only where the caller
///   says a document may begin); any other `<!` declaration (DOCTYPE and the like) is refused.
///
/// Every function works on complete input (a framed stanza, a whole tag): running out of bytes
/// is an error, never "wait for more".
enum XMLSyntax {
    /// Most attributes on one start tag, whatever the caller's own bound.
    static let maximumAttributes = 256

    // MARK: Characters

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    // Name characters as bit sets over 0x00–0x3F and 0x40–0x7F: one shift per byte in the hot
    // loops instead of a chain of comparisons.
    private static let nameStartLow: UInt64 = 1 << 0x3A  // ":"
    private static let nameStartHigh: UInt64 = 0x07FF_FFFE_87FF_FFFE  // A-Z, "_", a-z
    // Digits, "-" and ".".
    private static let nameLow: UInt64 = nameStartLow | 0x03FF_0000_0000_0000 | 1 << 0x2D | 1 << 0x2E

    @inline(__always)
    static func isNameStart(_ byte: UInt8) -> Bool {
        byte < 0x40 ? (nameStartLow >> byte) & 1 != 0 : byte < 0x80 && (nameStartHigh >> (byte & 0x3F)) & 1 != 0
    }

    @inline(__always)
    static func isNameCharacter(_ byte: UInt8) -> Bool {
        byte < 0x40 ? (nameLow >> byte) & 1 != 0 : byte < 0x80 && (nameStartHigh >> (byte & 0x3F)) & 1 != 0
    }

    /// Whether `value` is an XML `Char`.
    static func isCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    static func malformed(_ reason: String) -> PsEPRError { PsEPRError(.malformedXML, reason) }

    /// The length of the UTF-8 sequence whose lead byte (0x80 or above) is at `index`, once it is
    /// checked to encode a legal `Char` in its shortest form.
    static func sequenceLength(_ bytes: UnsafeRawBufferPointer, at index: Int) throws -> Int {
        let lead = bytes[index]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF  // the range of the second byte
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            high = 0x9F  // U+D800…U+DFFF are surrogates, not characters
        case 0xF0:
            length = 4
            low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            high = 0x8F
        default: throw malformed("invalid UTF-8")
        }
        guard index + length <= bytes.count else { throw malformed("invalid UTF-8") }
        let second = bytes[index + 1]
        guard second >= low && second <= high else { throw malformed("invalid UTF-8") }
        for offset in 2..<max(2, length) where bytes[index + offset] & 0xC0 != 0x80 { throw malformed("invalid UTF-8") }
        // U+FFFE and U+FFFF are not characters.
        if lead == 0xEF && second == 0xBF && bytes[index + 2] >= 0xBE {
            throw malformed("the non-character U+FFFE or U+FFFF")
        }
        return length
    }

    /// The offset of the first byte from `start` up to `end` that is below 0x20 or above 0x7F, or
    /// equal to `first`, `second` or `third` (`end` when none is): what lies before it is plain
    /// ASCII text with nothing to look at.
    @inline(__always)
    private static func plainEnd(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        to end: Int,
        stoppingAt first: UInt8 = 0,
        _ second: UInt8 = 0,
        _ third: UInt8 = 0
    ) -> Int {
        guard start < end, let base = bytes.baseAddress else { return start }
        return start
            + cxmlscan_plain_span(
                base.assumingMemoryBound(to: UInt8.self) + start,
                end - start,
                first,
                second,
                third
            )
    }

    /// Checks that `range` holds only `Char`s (comment, CDATA and processing instruction bodies).
    static func checkCharacters(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws {
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            index = plainEnd(bytes, from: index, to: end)
            guard index < end else { break }
            let byte = bytes[index]
            if byte >= 0x80 {
                let length = try sequenceLength(bytes, at: index)
                guard index + length <= end else { throw malformed("invalid UTF-8") }
                index += length
            } else {
                guard byte >= 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { throw controlCharacter(byte) }
                index += 1
            }
        }
    }

    static func controlCharacter(_ byte: UInt8) -> PsEPRError {
        malformed(
            byte == 0
                ? "a NUL character"
                : "the control character U+\(String(byte, radix: 16, uppercase: true).leftPadded(to: 4))"
        )
    }

    /// Checks character data from `start` up to the next `<` (text) or up to `terminator` (an
    /// attribute value, where `<` is refused), and returns where that byte is. Text may run to the
    /// end of the input (the caller decides whether that is allowed); a value may not.
    static func checkCharacterData(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        until terminator: UInt8
    ) throws -> Int {
        let inValue = terminator != UInt8(ascii: "<")
        let count = bytes.count
        let angle = inValue ? UInt8(ascii: "<") : UInt8(ascii: ">")
        var index = start
        while index < count {
            // Plain text is passed over sixteen bytes at a time: only a byte that needs a look is read alone.
            index = plainEnd(bytes, from: index, to: count, stoppingAt: terminator, UInt8(ascii: "&"), angle)
            guard index < count else { break }
            let byte = bytes[index]
            switch byte {
            case terminator:
                return index
            case UInt8(ascii: "&"):
                index = try reference(bytes, at: index, until: count).end
            case UInt8(ascii: "<"):
                throw malformed("\"<\" in an attribute value")
            case UInt8(ascii: ">"):
                if !inValue && index - start >= 2 && bytes[index - 1] == UInt8(ascii: "]")
                    && bytes[index - 2] == UInt8(ascii: "]")
                {
                    throw malformed("\"]]>\" in text")
                }
                index += 1
            case 0x80...:
                index += try sequenceLength(bytes, at: index)
            case 0x20...: index += 1
            case 0x09, 0x0A, 0x0D: index += 1
            default: throw controlCharacter(byte)
            }
        }
        if inValue { throw malformed("an attribute value is not closed") }
        return count
    }

    // MARK: References

    /// Reads the reference at `index` (an `&`): what it stands for, and the offset after its `;`.
    static func reference(
        _ bytes: UnsafeRawBufferPointer,
        at index: Int,
        until end: Int
    ) throws -> (scalar: Unicode.Scalar, end: Int) {
        var position = index + 1
        guard position < end else { throw malformed("an unterminated reference") }
        if bytes[position] == UInt8(ascii: "#") {
            position += 1
            let hexadecimal = position < end && bytes[position] == UInt8(ascii: "x")
            if hexadecimal { position += 1 }
            let digitsStart = position
            var value: UInt32 = 0
            while position < end, let digit = digitValue(bytes[position], hexadecimal: hexadecimal) {
                value = min(value &* (hexadecimal ? 16 : 10) &+ digit, 0x11_0000)  // anything larger is refused below
                position += 1
            }
            guard position > digitsStart, position < end, bytes[position] == UInt8(ascii: ";") else {
                throw malformed("a malformed character reference")
            }
            guard isCharacter(value), let scalar = Unicode.Scalar(value) else {
                throw malformed(
                    "a character reference to U+\(String(value, radix: 16, uppercase: true).leftPadded(to: 4)), which is not an XML character"
                )
            }
            return (scalar, position + 1)
        }
        let nameStart = position
        guard isNameStart(bytes[position]) else { throw malformed("\"&\" that starts no reference (write &amp;)") }
        while position < end, isNameCharacter(bytes[position]) { position += 1 }
        guard position < end, bytes[position] == UInt8(ascii: ";") else {
            throw malformed("an unterminated entity reference")
        }
        let name = nameStart..<position
        let scalar: Unicode.Scalar
        if equal(bytes, name, "lt") {
            scalar = "<"
        } else if equal(bytes, name, "gt") {
            scalar = ">"
        } else if equal(bytes, name, "amp") {
            scalar = "&"
        } else if equal(bytes, name, "quot") {
            scalar = "\""
        } else if equal(bytes, name, "apos") {
            scalar = "'"
        } else {
            throw malformed("the undefined entity &\(text(bytes, name.prefix(40)));")
        }
        return (scalar, position + 1)
    }

    private static func digitValue(_ byte: UInt8, hexadecimal: Bool) -> UInt32? {
        switch byte {
        case 0x30...0x39: UInt32(byte - 0x30)
        case 0x61...0x66 where hexadecimal: UInt32(byte - 0x61 + 10)
        case 0x41...0x46 where hexadecimal: UInt32(byte - 0x41 + 10)
        default: nil
        }
    }

    /// Character data (already checked) with its references replaced.
    static func decode(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, into output: inout [UInt8]) {
        var index = range.lowerBound
        while index < range.upperBound {
            guard let ampersand = bytes.firstIndex(of: UInt8(ascii: "&"), from: index), ampersand < range.upperBound
            else {
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<range.upperBound]))
                return
            }
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<ampersand]))
            guard let (scalar, end) = try? reference(bytes, at: ampersand, until: range.upperBound) else { return }
            output.append(contentsOf: String(Character(scalar)).utf8)
            index = end
        }
    }

    // MARK: Names and tags

    /// The name starting at `start`, as a range.
    static func name(_ bytes: UnsafeRawBufferPointer, at start: Int) throws -> Range<Int> {
        guard start < bytes.count else { throw malformed("a name is missing") }
        guard isNameStart(bytes[start]) else {
            throw malformed(
                bytes[start] >= 0x80
                    ? "a name with a non-ASCII character"
                    : "a name is missing or starts with a character names cannot start with"
            )
        }
        var end = start + 1
        while end < bytes.count, isNameCharacter(bytes[end]) { end += 1 }
        return start..<end
    }

    /// The delimiter after a name must not be a byte that could have continued some other name.
    private static func checkNameEnd(_ bytes: UnsafeRawBufferPointer, at index: Int) throws {
        guard index < bytes.count else { throw malformed("a tag is not closed") }
        if bytes[index] >= 0x80 { throw malformed("a name with a non-ASCII character") }
    }

    /// A start tag, read and checked.
    struct StartTag {
        /// The element's qualified name.
        var name: Range<Int>
        /// The offset after its `>`.
        var end: Int
        var isSelfClosing: Bool
        var attributeCount: Int
    }

    /// Reads the start tag at `start` (a `<`), calling `attribute` with each attribute's name and
    /// raw (checked, not decoded) value.
    static func startTag(
        _ bytes: UnsafeRawBufferPointer,
        at start: Int,
        attribute: (_ name: Range<Int>, _ value: Range<Int>) throws -> Void = { _, _ in }
    ) throws -> StartTag {
        let count = bytes.count
        let elementName = try name(bytes, at: start + 1)
        var position = elementName.upperBound
        var attributes = 0
        while true {
            try checkNameEnd(bytes, at: position)
            let spaced = isWhitespace(bytes[position])
            while position < count, isWhitespace(bytes[position]) { position += 1 }
            guard position < count else { throw malformed("a tag is not closed") }
            switch bytes[position] {
            case UInt8(ascii: ">"):
                return StartTag(name: elementName, end: position + 1, isSelfClosing: false, attributeCount: attributes)
            case UInt8(ascii: "/"):
                guard position + 1 < count, bytes[position + 1] == UInt8(ascii: ">") else {
                    throw malformed("\"/\" inside a tag")
                }
                return StartTag(name: elementName, end: position + 2, isSelfClosing: true, attributeCount: attributes)
            case UInt8(ascii: "<"):
                throw malformed("\"<\" inside a tag")
            default:
                break
            }
            guard spaced else { throw malformed("attributes must be separated by whitespace") }
            let attributeName = try name(bytes, at: position)
            position = attributeName.upperBound
            try checkNameEnd(bytes, at: position)
            while position < count, isWhitespace(bytes[position]) { position += 1 }
            guard position < count, bytes[position] == UInt8(ascii: "=") else {
                throw malformed("the attribute \(text(bytes, attributeName.prefix(40))) has no value")
            }
            position += 1
            while position < count, isWhitespace(bytes[position]) { position += 1 }
            guard position < count, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'") else {
                throw malformed("the value of attribute \(text(bytes, attributeName.prefix(40))) is not quoted")
            }
            let quote = bytes[position]
            let valueStart = position + 1
            let valueEnd = try checkCharacterData(bytes, from: valueStart, until: quote)
            attributes += 1
            guard attributes <= maximumAttributes else {
                throw PsEPRError(.tooManyAttributes, "a tag has more than \(maximumAttributes) attributes")
            }
            if attributes > 1, try appearsBefore(attributeName, in: bytes, after: elementName.upperBound) {
                throw malformed("the attribute \(text(bytes, attributeName.prefix(40))) appears twice")
            }
            try attribute(attributeName, valueStart..<valueEnd)
            position = valueEnd + 1
        }
    }

    /// Whether an attribute named like `name` comes earlier in the same tag, between `start` (the
    /// end of the element's name) and `name`. That part of the tag has been checked already, so
    /// walking it again is simple; tags have few attributes, and a bounded number.
    private static func appearsBefore(
        _ name: Range<Int>,
        in bytes: UnsafeRawBufferPointer,
        after start: Int
    ) throws -> Bool {
        var position = start
        while position < name.lowerBound {
            while isWhitespace(bytes[position]) { position += 1 }
            guard position < name.lowerBound else { break }
            let earlier = position
            while isNameCharacter(bytes[position]) { position += 1 }
            if position - earlier == name.count
                && memcmp(bytes.baseAddress! + earlier, bytes.baseAddress! + name.lowerBound, name.count) == 0
            {
                return true
            }
            while bytes[position] != UInt8(ascii: "\"") && bytes[position] != UInt8(ascii: "'") { position += 1 }
            let quote = bytes[position]
            position = (bytes.firstIndex(of: quote, from: position + 1) ?? bytes.count) + 1
        }
        return false
    }

    /// Reads the end tag at `start` (`</`), which must close `open`; returns the offset after it.
    static func endTag(_ bytes: UnsafeRawBufferPointer, at start: Int, closing open: Range<Int>) throws -> Int {
        let closing = try name(bytes, at: start + 2)
        guard closing.count == open.count,
            memcmp(bytes.baseAddress! + closing.lowerBound, bytes.baseAddress! + open.lowerBound, open.count) == 0
        else {
            throw malformed("<\(text(bytes, open.prefix(40)))> closed by </\(text(bytes, closing.prefix(40)))>")
        }
        var position = closing.upperBound
        try checkNameEnd(bytes, at: position)
        while position < bytes.count, isWhitespace(bytes[position]) { position += 1 }
        guard position < bytes.count, bytes[position] == UInt8(ascii: ">") else {
            throw malformed("a malformed end tag")
        }
        return position + 1
    }

    // MARK: Other markup

    /// What the markup at a `<` is.
    enum Markup {
        case startTag, endTag, comment, characterData, instruction, declaration
    }

    static func markup(_ bytes: UnsafeRawBufferPointer, at index: Int) throws -> Markup {
        guard index + 1 < bytes.count else { throw malformed("\"<\" at the end of the input") }
        switch bytes[index + 1] {
        case UInt8(ascii: "/"): return .endTag
        case UInt8(ascii: "?"): return .instruction
        case UInt8(ascii: "!"):
            if starts(bytes, at: index, with: "<!--") { return .comment }
            if starts(bytes, at: index, with: "<![CDATA[") { return .characterData }
            return .declaration
        default: return .startTag
        }
    }

    static func declarationRefused() -> PsEPRError {
        PsEPRError(.declarationRefused, "DOCTYPE and other declarations are not accepted")
    }

    /// Reads the comment at `start` (`<!--`); returns the offset after its `-->`. The first `--`
    /// in a comment must be its end.
    static func comment(_ bytes: UnsafeRawBufferPointer, at start: Int) throws -> Int {
        var search = start + 4
        while let dash = bytes.firstIndex(of: UInt8(ascii: "-"), from: search) {
            guard dash + 1 < bytes.count else { break }
            guard bytes[dash + 1] == UInt8(ascii: "-") else {
                search = dash + 1
                continue
            }
            guard dash + 2 < bytes.count, bytes[dash + 2] == UInt8(ascii: ">") else {
                throw malformed("\"--\" inside a comment")
            }
            try checkCharacters(bytes, (start + 4)..<dash)
            return dash + 3
        }
        throw malformed("a comment is not closed")
    }

    /// Reads the CDATA section at `start` (`<![CDATA[`): its content, and the offset after `]]>`.
    static func characterData(_ bytes: UnsafeRawBufferPointer, at start: Int) throws -> (content: Range<Int>, end: Int)
    {
        guard let close = find(bytes, "]]>", from: start + 9) else { throw malformed("a CDATA section is not closed") }
        try checkCharacters(bytes, (start + 9)..<close)
        return ((start + 9)..<close, close + 3)
    }

    /// Reads the processing instruction at `start` (`<?`); returns the offset after its `?>`.
    ///
    /// - Parameter allowDeclaration: whether `<?xml …?>` (the XML declaration) may stand here.
    static func instruction(_ bytes: UnsafeRawBufferPointer, at start: Int, allowDeclaration: Bool) throws -> Int {
        let target = try name(bytes, at: start + 2)
        let namedXML =
            target.count == 3 && bytes[target.lowerBound] | 0x20 == UInt8(ascii: "x")
            && bytes[target.lowerBound + 1] | 0x20 == UInt8(ascii: "m")
            && bytes[target.lowerBound + 2] | 0x20 == UInt8(ascii: "l")
        if namedXML && !allowDeclaration {
            throw malformed("an XML declaration, or a processing instruction named xml, inside the document")
        }
        guard let close = find(bytes, "?>", from: target.upperBound) else {
            throw malformed("a processing instruction is not closed")
        }
        if namedXML { try checkDeclaration(bytes, target.upperBound..<close) }
        if close > target.upperBound {
            guard isWhitespace(bytes[target.upperBound]) else { throw malformed("a malformed processing instruction") }
            try checkCharacters(bytes, target.upperBound..<close)
        }
        return close + 2
    }

    /// The XML declaration's body must begin with its version: ` version='1.x'`. (What may
    /// follow, encoding and standalone, is left as characters: nothing here acts on them.)
    private static func checkDeclaration(_ bytes: UnsafeRawBufferPointer, _ body: Range<Int>) throws {
        guard bytes[body.lowerBound - 3] == UInt8(ascii: "x"), bytes[body.lowerBound - 2] == UInt8(ascii: "m"),
            bytes[body.lowerBound - 1] == UInt8(ascii: "l")
        else {
            throw malformed("a processing instruction named xml")
        }
        var position = body.lowerBound
        while position < body.upperBound, isWhitespace(bytes[position]) { position += 1 }
        guard position > body.lowerBound, starts(bytes, at: position, with: "version") else {
            throw malformed("an XML declaration without its version")
        }
        position += 7
        while position < body.upperBound, isWhitespace(bytes[position]) { position += 1 }
        guard position < body.upperBound, bytes[position] == UInt8(ascii: "=") else {
            throw malformed("a malformed XML declaration")
        }
        position += 1
        while position < body.upperBound, isWhitespace(bytes[position]) { position += 1 }
        guard position + 4 < body.upperBound,
            bytes[position] == UInt8(ascii: "'") || bytes[position] == UInt8(ascii: "\""),
            starts(bytes, at: position + 1, with: "1."),
            let end = bytes.firstIndex(of: bytes[position], from: position + 1), end < body.upperBound,
            end > position + 3,
            bytes[(position + 3)..<end].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { throw malformed("a malformed XML declaration version") }
    }

    // MARK: Bytes

    static func starts(_ bytes: UnsafeRawBufferPointer, at index: Int, with pattern: StaticString) -> Bool {
        let length = pattern.utf8CodeUnitCount
        guard index + length <= bytes.count else { return false }
        return memcmp(bytes.baseAddress! + index, pattern.utf8Start, length) == 0
    }

    /// Where `pattern` first occurs at or after `start`.
    static func find(_ bytes: UnsafeRawBufferPointer, _ pattern: StaticString, from start: Int) -> Int? {
        let first = pattern.utf8Start[0]
        var index = start
        while let candidate = bytes.firstIndex(of: first, from: index) {
            if starts(bytes, at: candidate, with: pattern) { return candidate }
            index = candidate + 1
        }
        return nil
    }

    static func equal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        range.count == text.utf8CodeUnitCount && starts(bytes, at: range.lowerBound, with: text)
    }

    static func text(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
