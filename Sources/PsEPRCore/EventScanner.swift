/// Reads the routing envelope of a `<message>` stanza straight from its bytes, without building
/// a DOM: the channel, the to and from service and instance, the payload's namespace, and the
/// payload's byte range (forwarded as it came).
///
/// It handles the shape every PsEPR client sends: elements and attributes, with comments, CDATA
/// and processing instructions allowed inside the payload. Anything else (an entity or non-ASCII
/// text in a routing field, a comment in the envelope, an error message) makes it answer
/// ``Outcome/unusual``, and the caller falls back to ``XMLElement`` parsing, which handles
/// every case and reports errors precisely. Both give the same ``Event`` for the same stanza.
public enum EventScanner {
    /// What the scan found.
    public enum Outcome: Sendable, Equatable {
        /// A message carrying an event.
        case event(Event)
        /// Not the common shape: parse it in full.
        case unusual
    }

    /// An event read from a stanza, and where its `<event>` element lies in the stanza when that
    /// element can be forwarded as it is: unprefixed, declaring the event namespace itself, with
    /// no prefixed names in its envelope (so it needs nothing declared outside it).
    public struct Scanned: Sendable, Equatable {
        /// The event.
        public var event: Event
        /// The byte range of the `<event>…</event>` element, when it stands on its own.
        public var selfContainedElement: Range<Int>?
        /// The byte range of the `<payload>` element, if any.
        public var payloadRange: Range<Int>?
    }

    /// Scans one framed stanza.
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        scanMessage(bytes).map { .event($0.event) } ?? .unusual
    }

    /// Scans one framed stanza; nil when it is not the common shape.
    ///
    /// - Parameter recentChannel: the channel of the sender's previous event: when this one goes to
    ///   the same channel (the usual case) its name is reused instead of built and checked again.
    /// - Parameter copyPayload: false leaves ``Event/payload`` empty (``Scanned/payloadRange``
    ///   says where it is), for a caller that forwards the element and needs no copy.
    public static func scanMessage(_ bytes: UnsafeRawBufferPointer, recentChannel: ChannelName? = nil, copyPayload: Bool = true) -> Scanned? {
        var scanner = Scanner(bytes: bytes)
        return scanner.message(recentChannel: recentChannel, copyPayload: copyPayload)
    }
}

private struct Scanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// The fields of interest, as byte ranges.
    private struct Fields {
        var channel: Range<Int>?
        var toService: Range<Int>?
        var toInstance: Range<Int>?
        var fromService: Range<Int>?
        var fromInstance: Range<Int>?
        var payload: Range<Int>?
        var payloadNamespace: Range<Int>?
        var id: Range<Int>?
    }

    /// A routing field's element.
    private enum Field: Equatable { case channel, toService, toInstance, fromService, fromInstance }

    /// Where the scan is in the envelope: message › event › to|from › field. Other elements are
    /// skipped whole, so the envelope never nests deeper than these four levels.
    private enum Place: Equatable { case message, event, to, from, field(Field) }

    private static let lessThan = UInt8(ascii: "<")
    private static let greaterThan = UInt8(ascii: ">")
    private static let slash = UInt8(ascii: "/")

    mutating func message(recentChannel: ChannelName?, copyPayload: Bool) -> EventScanner.Scanned? {
        skipWhitespace()
        guard let (messageName, _) = startTagName(), localIs(messageName, "message") else { return nil }
        var fields = Fields()
        guard let messageTag = attributes() else { return nil }
        if let type = messageTag.type, isName(type, "error") { return nil }
        fields.id = messageTag.id
        guard !messageTag.selfClosing else { return nil }  // <message/> carries no event
        // The open envelope elements, innermost last (at most four), with their names.
        var places: (Place, Place, Place, Place) = (.message, .message, .message, .message)
        var names: (Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (messageName, 0..<0, 0..<0, 0..<0)
        var level = 0
        var sawEvent = false
        var eventStart = 0
        var eventElement: Range<Int>?
        var selfContained = true
        while level >= 0 {
            let top: Place
            switch level {
            case 0: top = places.0
            case 1: top = places.1
            case 2: top = places.2
            default: top = places.3
            }
            let textStart = position
            guard let next = nextLessThan() else { return nil }
            if case .field(let field) = top {
                let text = textStart..<next
                switch field {
                case .channel: fields.channel = text
                case .toService: fields.toService = text
                case .toInstance: fields.toInstance = text
                case .fromService: fields.fromService = text
                case .fromInstance: fields.fromInstance = text
                }
            } else if !isWhitespace(textStart..<next) {
                return nil  // stray text in the envelope
            }
            position = next + 1
            guard position < bytes.count else { return nil }
            let byte = bytes[position]
            if byte == Self.slash {
                let nameStart = position + 1
                guard let end = find(Self.greaterThan) else { return nil }
                var nameEnd = end
                while nameEnd > nameStart, XMLStreamFramer.isWhitespace(bytes[nameEnd - 1]) { nameEnd -= 1 }
                let open: Range<Int>
                switch level {
                case 0: open = names.0
                case 1: open = names.1
                case 2: open = names.2
                default: open = names.3
                }
                guard equal(nameStart..<nameEnd, open) else { return nil }  // mismatched end tag
                position = end + 1
                if level == 1 { eventElement = eventStart..<position }
                level -= 1
                continue
            }
            if byte == UInt8(ascii: "!") || byte == UInt8(ascii: "?") { return nil }
            let tagStart = next
            position = next
            guard let (name, _) = startTagName() else { return nil }
            guard let tag = attributes() else { return nil }
            let local = localPart(name)
            let prefixed = local.lowerBound != name.lowerBound
            // Inside the event, prefixed names would need declarations from outside it.
            if level >= 1, top != .event || !isName(local, "payload") {
                if tag.hasPrefixedName || prefixed { selfContained = false }
            }
            let place: Place
            switch top {
            case .message where isName(local, "event"):
                place = .event
                sawEvent = true
                eventStart = tagStart
                if prefixed || tag.hasPrefixedName || tag.xmlns.map({ !isName($0, "http://psepr.org/xs/event") }) ?? true {
                    selfContained = false
                }
            case .event where isName(local, "to"): place = .to
            case .event where isName(local, "from"): place = .from
            case .event where isName(local, "payload"):
                guard fields.payload == nil else { return nil }
                fields.payloadNamespace = tag.xmlns
                if tag.selfClosing {
                    fields.payload = tagStart..<position
                } else {
                    guard let end = skipContent(of: name) else { return nil }
                    fields.payload = tagStart..<end
                }
                continue
            case .to where isName(local, "channel"): place = .field(.channel)
            case .to where isName(local, "service"): place = .field(.toService)
            case .to where isName(local, "instance"): place = .field(.toInstance)
            case .from where isName(local, "service"): place = .field(.fromService)
            case .from where isName(local, "instance"): place = .field(.fromInstance)
            case .field: return nil  // markup inside a routing field
            default:
                // Anything else (an XEP-0023 <x/>, an extension) is passed over whole; inside
                // the event its contents go unchecked, so the element is not forwarded as it is.
                if level >= 1 { selfContained = false }
                if !tag.selfClosing { guard skipContent(of: name) != nil else { return nil } }
                continue
            }
            guard !tag.selfClosing else { continue }
            level += 1
            switch level {
            case 1: (places.1, names.1) = (place, name)
            case 2: (places.2, names.2) = (place, name)
            case 3: (places.3, names.3) = (place, name)
            default: return nil
            }
        }
        skipWhitespace()
        guard position == bytes.count, sawEvent else { return nil }
        guard let channelRange = fields.channel, let channel = channelName(channelRange, recent: recentChannel) else { return nil }
        guard let toService = optionalField(fields.toService), let toInstance = optionalField(fields.toInstance),
            let fromService = optionalField(fields.fromService), let fromInstance = optionalField(fields.fromInstance)
        else { return nil }
        if let id = fields.id, !isPlain(id) { return nil }
        if let namespace = fields.payloadNamespace, !isPlain(namespace) { return nil }
        let event = Event(
            id: fields.id.map(text), channel: channel, toService: toService, toInstance: toInstance,
            fromService: fromService, fromInstance: fromInstance, payloadNamespace: fields.payloadNamespace.map(text),
            payload: copyPayload ? fields.payload.map { Array(bytes[$0]) } ?? [] : []
        )
        // An instance without a service means nothing, and the encoder leaves it out: so must a
        // forwarded element.
        if toService == nil && fields.toInstance != nil { selfContained = false }
        return EventScanner.Scanned(event: event, selfContainedElement: selfContained ? eventElement : nil, payloadRange: fields.payload)
    }

    /// An optional routing field: `.some(nil)` when absent or empty, nil when not plain.
    private func optionalField(_ range: Range<Int>?) -> String?? {
        guard let range else { return .some(nil) }
        guard isPlain(range) else { return nil }
        return .some(field(range))
    }

    // MARK: Tags

    /// `<name`, leaving the position after the name.
    mutating func startTagName() -> (Range<Int>, Int)? {
        guard position < bytes.count, bytes[position] == Self.lessThan else { return nil }
        let start = position + 1
        position = start
        while position < bytes.count, !isNameEnd(bytes[position]) { position += 1 }
        guard position > start else { return nil }
        return (start..<position, start - 1)
    }

    /// The attributes the envelope needs, as raw value ranges, and whether the tag closed itself.
    struct Tag {
        var id: Range<Int>?
        var type: Range<Int>?
        var xmlns: Range<Int>?
        var selfClosing = false
        /// An attribute with a prefix other than `xmlns:`.
        var hasPrefixedName = false
    }

    /// Reads the attributes up to `>` or `/>`; nil if the tag is malformed.
    mutating func attributes() -> Tag? {
        var tag = Tag()
        while true {
            skipWhitespace()
            guard position < bytes.count else { return nil }
            let byte = bytes[position]
            if byte == Self.greaterThan {
                position += 1
                return tag
            }
            if byte == Self.slash {
                guard position + 1 < bytes.count, bytes[position + 1] == Self.greaterThan else { return nil }
                position += 2
                tag.selfClosing = true
                return tag
            }
            let nameStart = position
            while position < bytes.count, !isNameEnd(bytes[position]), bytes[position] != UInt8(ascii: "=") { position += 1 }
            let name = nameStart..<position
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "=") else { return nil }
            position += 1
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'") else { return nil }
            let quote = bytes[position]
            let valueStart = position + 1
            guard let end = find(quote, from: valueStart) else { return nil }
            position = end + 1
            if contains(name, UInt8(ascii: ":")) && !(name.count > 6 && equal(at: name.lowerBound, "xmlns:")) { tag.hasPrefixedName = true }
            if isName(name, "id") {
                tag.id = valueStart..<end
            } else if isName(name, "type") {
                tag.type = valueStart..<end
            } else if isName(name, "xmlns") {
                tag.xmlns = valueStart..<end
            }
        }
    }

    /// Skips the content of element `name` after its start tag, through its end tag (end tags
    /// must match); returns the offset after it. Nested elements, comments, CDATA and
    /// processing instructions are passed over.
    mutating func skipContent(of name: Range<Int>) -> Int? {
        // The open elements' names, on the stack rather than the heap; deeper than 32 is unusual.
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 32) { open in
            open[0] = name
            var depth = 1
            while depth > 0 {
                guard let next = nextLessThan() else { return nil }
                position = next + 1
                guard position < bytes.count else { return nil }
                switch bytes[position] {
                case Self.slash:
                    let nameStart = position + 1
                    guard let end = find(Self.greaterThan) else { return nil }
                    var nameEnd = end
                    while nameEnd > nameStart, XMLStreamFramer.isWhitespace(bytes[nameEnd - 1]) { nameEnd -= 1 }
                    depth -= 1
                    guard equal(nameStart..<nameEnd, open[depth]) else { return nil }
                    position = end + 1
                case UInt8(ascii: "!"):
                    if matches("!--") {
                        guard let end = find("-->") else { return nil }
                        position = end + 3
                    } else if matches("![CDATA[") {
                        guard let end = find("]]>") else { return nil }
                        position = end + 3
                    } else {
                        return nil
                    }
                case UInt8(ascii: "?"):
                    guard let end = find("?>") else { return nil }
                    position = end + 2
                default:
                    let nameStart = position
                    while position < bytes.count, !isNameEnd(bytes[position]) { position += 1 }
                    let element = nameStart..<position
                    var quote: UInt8?
                    while position < bytes.count {
                        let byte = bytes[position]
                        if let open = quote {
                            if byte == open { quote = nil }
                        } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                            quote = byte
                        } else if byte == Self.greaterThan {
                            break
                        }
                        position += 1
                    }
                    guard position < bytes.count else { return nil }
                    if bytes[position - 1] != Self.slash {
                        guard depth < open.count else { return nil }
                        open[depth] = element
                        depth += 1
                    }
                    position += 1
                }
            }
            return position
        }
    }

    // MARK: Bytes

    func nextLessThan() -> Int? { find(Self.lessThan) }

    func find(_ byte: UInt8, from start: Int? = nil) -> Int? {
        bytes.firstIndex(of: byte, from: start ?? position)
    }

    func find(_ pattern: StaticString) -> Int? {
        let count = pattern.utf8CodeUnitCount
        var index = position
        while index + count <= bytes.count {
            if equal(at: index, pattern) { return index }
            index += 1
        }
        return nil
    }

    func matches(_ pattern: StaticString) -> Bool {
        let count = pattern.utf8CodeUnitCount
        return position + count <= bytes.count && equal(at: position, pattern)
    }

    func equal(at index: Int, _ pattern: StaticString) -> Bool {
        let count = pattern.utf8CodeUnitCount
        for offset in 0..<count where bytes[index + offset] != pattern.utf8Start[offset] { return false }
        return true
    }

    func equal(_ lhs: Range<Int>, _ rhs: Range<Int>) -> Bool {
        lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { bytes[$0] == bytes[$1] }
    }

    mutating func skipWhitespace() {
        while position < bytes.count, XMLStreamFramer.isWhitespace(bytes[position]) { position += 1 }
    }

    func isNameEnd(_ byte: UInt8) -> Bool {
        XMLStreamFramer.isWhitespace(byte) || byte == Self.greaterThan || byte == Self.slash
    }

    func isWhitespace(_ range: Range<Int>) -> Bool {
        range.allSatisfy { XMLStreamFramer.isWhitespace(bytes[$0]) }
    }

    /// ASCII without markup or entity references: read as it is.
    func isPlain(_ range: Range<Int>) -> Bool {
        range.allSatisfy { bytes[$0] < 0x80 && bytes[$0] != UInt8(ascii: "&") && bytes[$0] != Self.lessThan }
    }

    func text(_ range: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) }

    func contains(_ range: Range<Int>, _ byte: UInt8) -> Bool {
        for index in range where bytes[index] == byte { return true }
        return false
    }

    /// Whether the bytes in `range` are exactly `name`.
    func isName(_ range: Range<Int>, _ name: StaticString) -> Bool {
        range.count == name.utf8CodeUnitCount && equal(at: range.lowerBound, name)
    }

    /// Whether the element name in `range`, without any prefix, is `name`.
    func localIs(_ range: Range<Int>, _ name: StaticString) -> Bool {
        isName(localPart(range), name)
    }

    /// The element name in `range` without its prefix.
    func localPart(_ range: Range<Int>) -> Range<Int> {
        var start = range.lowerBound
        for index in range where bytes[index] == UInt8(ascii: ":") { start = index + 1 }
        return start..<range.upperBound
    }

    /// A routing field's text, trimmed; nil when empty (as ``XMLElement/childText(_:)``), or
    /// when it is not plain (the caller then falls back).
    /// The channel named in `range`: `recent` when the bytes spell it, else parsed and checked.
    func channelName(_ range: Range<Int>, recent: ChannelName?) -> ChannelName? {
        if let recent {
            var lower = range.lowerBound, upper = range.upperBound
            while lower < upper, XMLStreamFramer.isWhitespace(bytes[lower]) { lower += 1 }
            while upper > lower, XMLStreamFramer.isWhitespace(bytes[upper - 1]) { upper -= 1 }
            let same = recent.rawValue.utf8.withContiguousStorageIfAvailable { name in
                name.count == upper - lower && name.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[lower..<upper]))
            }
            if same == true { return recent }
        }
        return field(range).flatMap { try? ChannelName($0) }
    }

    func field(_ range: Range<Int>) -> String? {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper, XMLStreamFramer.isWhitespace(bytes[lower]) { lower += 1 }
        while upper > lower, XMLStreamFramer.isWhitespace(bytes[upper - 1]) { upper -= 1 }
        guard lower < upper, isPlain(lower..<upper) else { return nil }
        return text(lower..<upper)
    }
}
