#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the routing envelope of a `<message>` stanza straight from its bytes, without building
/// a DOM: the channel, the to and from service and instance, the payload's namespace, and the
/// payload's byte range (forwarded as it came).
///
/// Every byte of what it accepts is checked for XML 1.0 well-formedness by ``XMLSyntax``, the
/// same rules ``ParsedElement`` parses by, so a payload forwarded from here is one any conforming
/// parser reads. A stanza that is not well-formed, or whose envelope repeats an element (two
/// `<event>`, `<to>`, `<from>`, `<payload>`, or a field twice), is ``Outcome/refused(_:)``, as
/// the full parser refuses it.
///
/// It reads the shape every PsEPR client sends: elements and attributes, with comments, CDATA
/// and processing instructions allowed inside the payload. Anything else (an entity or non-ASCII
/// text in a routing field, a comment in the envelope, an error message) makes it answer
/// ``Outcome/unusual``, and the caller falls back to ``ParsedElement`` parsing, which handles
/// every case and reports errors precisely. Both give the same ``Event`` for the same stanza.
public enum EventScanner {
    /// The deepest nesting accepted, counting the `<message>`: the full parser's default.
    public static let maximumDepth = 32

    /// What the scan found.
    public enum Outcome: Sendable, Equatable {
        /// A message carrying an event.
        case event(Event)
        /// Not the common shape: parse it in full.
        case unusual
        /// Not well-formed, or an envelope element given twice: the full parser refuses it too.
        case refused(PsEPRError)
    }

    /// What ``check(_:recentChannel:copyPayload:)`` found.
    public enum Verdict: Sendable, Equatable {
        /// A message carrying an event, read.
        case scanned(Scanned)
        /// Not the common shape: parse it in full.
        case unusual
        /// Not well-formed, or an envelope element given twice: answer the sender with this (and
        /// the message's `id`, when its start tag could be read).
        case refused(PsEPRError, id: String?)
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

        /// An event and where its parts lie.
        public init(event: Event, selfContainedElement: Range<Int>?, payloadRange: Range<Int>?) {
            self.event = event
            self.selfContainedElement = selfContainedElement
            self.payloadRange = payloadRange
        }
    }

    /// Scans one framed stanza.
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        switch check(bytes) {
        case .scanned(let scanned): .event(scanned.event)
        case .unusual: .unusual
        case .refused(let error, _): .refused(error)
        }
    }

    /// Scans one framed stanza; nil when it is not the common shape or is refused (the full
    /// parser then says why).
    public static func scanMessage(
        _ bytes: UnsafeRawBufferPointer,
        recentChannel: ChannelName? = nil,
        copyPayload: Bool = true
    ) -> Scanned? {
        if case .scanned(let scanned) = check(bytes, recentChannel: recentChannel, copyPayload: copyPayload) {
            return scanned
        }
        return nil
    }

    /// Scans one framed stanza.
    ///
    /// - Parameter recentChannel: the channel of the sender's previous event: when this one goes to
    ///   the same channel (the usual case) its name is reused instead of built and checked again.
    /// - Parameter copyPayload: false leaves ``Event/payload`` empty (``Scanned/payloadRange``
    ///   says where it is), for a caller that forwards the element and needs no copy.
    public static func check(
        _ bytes: UnsafeRawBufferPointer,
        recentChannel: ChannelName? = nil,
        copyPayload: Bool = true
    ) -> Verdict {
        var scanner = Scanner(bytes: bytes)
        do {
            guard let scanned = try scanner.message(recentChannel: recentChannel, copyPayload: copyPayload) else {
                return .unusual
            }
            return .scanned(scanned)
        } catch {
            let id = scanner.messageID.flatMap { scanner.isPlain($0) ? scanner.text($0) : nil }
            return .refused(error as? PsEPRError ?? PsEPRError(.malformedXML, "the stanza could not be read"), id: id)
        }
    }

    /// Reads a `<message>` event at the very start of `bytes` (a connection's unframed input,
    /// from a `<`), finding its end as it goes: framing and scanning in one pass over the bytes.
    ///
    /// Returns the event and the stanza's length only when the whole message is there and
    /// ``check(_:recentChannel:copyPayload:)`` would give `.scanned` for exactly those bytes, and
    /// ``XMLStreamFramer`` with `limits` would frame exactly them (no tag with more attributes,
    /// no nesting deeper, no stanza longer than it allows). Anything else (more bytes needed, an
    /// unusual shape, a refusal, a limit reached) is nil, and the caller frames and scans the
    /// usual way, which gives the verdict and the error.
    ///
    /// - Parameter memo: the sender's previous message, kept here between calls: a publisher
    ///   usually sends the same envelope around a new payload. When the bytes before the
    ///   payload's content and after its end tag are those of the memo's message, only the
    ///   payload is scanned; every byte is still checked (the envelope's bytes were, identical,
    ///   in the memo's message, and reading them gives the same result wherever the payload ends).
    public static func scanLeadingMessage(
        _ bytes: UnsafeRawBufferPointer,
        limits: XMLStreamFramer.Limits,
        recentChannel: ChannelName? = nil,
        copyPayload: Bool = true,
        memo: inout LeadingMemo?
    ) -> (scanned: Scanned, length: Int)? {
        switch scanLeading(bytes, limits: limits, recentChannel: recentChannel, copyPayload: copyPayload, memo: &memo) {
        case .scanned(let scanned, let length, _)?:
            return (scanned, length)
        case .repeated(let length, let payload, let element)?:
            var event = memo!.event
            if copyPayload { event.payload = Array(bytes[payload]) }
            return (Scanned(event: event, selfContainedElement: element, payloadRange: payload), length)
        case nil:
            return nil
        }
    }

    /// What ``scanLeading(_:limits:recentChannel:copyPayload:memo:)`` read at the front of the input.
    public enum Leading: Sendable, Equatable {
        /// The memo's envelope around a new payload: the event is ``LeadingMemo/event`` with the
        /// payload at `payloadRange`, and is not built again (a caller keeps what it derived from
        /// the memo's event until a scan says `memoReplaced`).
        case repeated(length: Int, payloadRange: Range<Int>, selfContainedElement: Range<Int>?)
        /// A message read in full; `memoReplaced` when the memo now holds its envelope (it has
        /// payload content). Boxed, so the common case above is a few words to pass around.
        indirect case scanned(Scanned, length: Int, memoReplaced: Bool)
    }

    /// ``scanLeadingMessage(_:limits:recentChannel:copyPayload:memo:)`` without building an
    /// ``Event`` when the envelope repeats the memo's: the same checks, the same verdicts.
    public static func scanLeading(
        _ bytes: UnsafeRawBufferPointer,
        limits: XMLStreamFramer.Limits,
        recentChannel: ChannelName? = nil,
        copyPayload: Bool = true,
        memo: inout LeadingMemo?
    ) -> Leading? {
        // The envelope alone nests four deep below the stream root.
        guard limits.maximumDepth >= 5 else { return nil }
        var scanner = Scanner(leading: bytes, limits: limits)
        // Read in place: copying the memo would cost more than the match saves.
        if memo?.limits == limits, let found = memo?.match(bytes, scanner: &scanner) {
            return .repeated(length: found.length, payloadRange: found.payload, selfContainedElement: found.element)
        }
        scanner.position = 0
        guard let scanned = try? scanner.message(recentChannel: recentChannel, copyPayload: copyPayload),
            scanner.position <= limits.maximumStanzaBytes
        else { return nil }
        guard let content = scanner.payloadContent else {
            return .scanned(scanned, length: scanner.position, memoReplaced: false)
        }
        memo = LeadingMemo(bytes: bytes, scanned: scanned, content: content, end: scanner.position, limits: limits)
        return .scanned(scanned, length: scanner.position, memoReplaced: true)
    }

    /// ``scanLeadingMessage(_:limits:recentChannel:copyPayload:memo:)`` with no memo.
    public static func scanLeadingMessage(
        _ bytes: UnsafeRawBufferPointer,
        limits: XMLStreamFramer.Limits,
        recentChannel: ChannelName? = nil,
        copyPayload: Bool = true
    ) -> (scanned: Scanned, length: Int)? {
        var memo: LeadingMemo?
        return scanLeadingMessage(
            bytes,
            limits: limits,
            recentChannel: recentChannel,
            copyPayload: copyPayload,
            memo: &memo
        )
    }

    /// A message read in full by ``scanLeadingMessage(_:limits:recentChannel:copyPayload:memo:)``:
    /// its bytes up to its payload's content and after the payload's end tag, and what they said.
    public struct LeadingMemo: Sendable {
        /// The bytes through the payload's start tag.
        let head: [UInt8]
        /// The bytes after the payload's end tag, through the message's.
        let tail: [UInt8]
        /// The payload element's name (in `head`) and nesting depth, for scanning its content.
        let payloadName: Range<Int>
        let payloadDepth: Int
        /// The event, without its payload bytes.
        public let event: Event
        /// The `<event>` element's start, and its end counted from the payload's end, when it
        /// can be forwarded as it is.
        let eventElement: (start: Int, endAfterPayload: Int)?
        /// Where the `<payload>` element starts.
        let payloadStart: Int
        let limits: XMLStreamFramer.Limits
        /// The markup of the payload's content, in order, its end tag last, when every piece is a
        /// plain tag (`<`, a name, `>` or `/>`, nothing quoted) and there are few: a later payload
        /// with the same pieces around new text is the same tree, so only its text is checked
        /// (``skipContentWithSameMarkup(_:from:)``). The pieces one after another, and where each
        /// ends (kept flat: an array per piece would cost a retain per piece and event); no ends:
        /// the content is scanned in full.
        let contentMarkup: (bytes: [UInt8], ends: [Int])

        /// At most this many pieces of markup are remembered.
        static let maximumMarkupPieces = 8

        fileprivate init(
            bytes: UnsafeRawBufferPointer,
            scanned: Scanned,
            content: Scanner.PayloadContent,
            end: Int,
            limits: XMLStreamFramer.Limits
        ) {
            head = Array(bytes[..<content.start])
            tail = Array(bytes[content.end..<end])
            payloadName = content.name
            payloadDepth = content.depth
            var event = scanned.event
            event.payload = []
            self.event = event
            eventElement = scanned.selfContainedElement.map { ($0.lowerBound, $0.upperBound - content.end) }
            payloadStart = scanned.payloadRange?.lowerBound ?? content.start
            self.limits = limits
            contentMarkup = Self.plainMarkup(bytes, in: content.start..<content.end)
        }

        /// The pieces of markup in `content` (checked already), when all are plain tags.
        private static func plainMarkup(
            _ bytes: UnsafeRawBufferPointer,
            in content: Range<Int>
        ) -> (bytes: [UInt8], ends: [Int]) {
            let none: (bytes: [UInt8], ends: [Int]) = ([], [])
            var pieces = none
            var index = content.lowerBound
            while index < content.upperBound {
                guard bytes[index] == UInt8(ascii: "<") else {
                    index += 1
                    continue
                }
                guard pieces.ends.count < maximumMarkupPieces else { return none }
                var end = index + 1
                while end < content.upperBound, bytes[end] != UInt8(ascii: ">") {
                    switch bytes[end] {
                    // Quotes, comments, CDATA and instructions: not a plain tag.
                    case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "!"), UInt8(ascii: "?"): return none
                    default: end += 1
                    }
                }
                guard end < content.upperBound else { return none }
                pieces.bytes += bytes[index...end]
                pieces.ends.append(pieces.bytes.count)
                index = end + 1
            }
            return pieces
        }

        /// The offset after a payload's content that starts at `start` and has exactly the
        /// remembered markup, its text checked as ``Scanner/skipContent(of:depth:)`` checks text;
        /// nil when it has other markup or its text is refused (the full scan then decides).
        private func skipContentWithSameMarkup(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
            guard !contentMarkup.ends.isEmpty else { return nil }
            return contentMarkup.bytes.withUnsafeBytes { markup -> Int? in
                var position = start
                var pieceStart = 0
                for index in contentMarkup.ends.indices {
                    let pieceEnd = contentMarkup.ends[index]
                    let count = pieceEnd - pieceStart
                    guard
                        let next = try? XMLSyntax.checkCharacterData(bytes, from: position, until: UInt8(ascii: "<")),
                        bytes.count - next >= count,
                        memcmp(bytes.baseAddress! + next, markup.baseAddress! + pieceStart, count) == 0
                    else { return nil }
                    position = next + count
                    pieceStart = pieceEnd
                }
                return position
            }
        }

        /// The message at the start of `bytes` when its envelope is this one's, its payload's
        /// content checked by `scanner`: its length, its payload's range and its `<event>`
        /// element's, when that can be forwarded.
        fileprivate func match(
            _ bytes: UnsafeRawBufferPointer,
            scanner: inout Scanner
        ) -> (length: Int, payload: Range<Int>, element: Range<Int>?)? {
            guard bytes.count > head.count + tail.count, Self.equal(bytes, at: 0, head) else { return nil }
            scanner.position = head.count
            guard
                let payloadEnd = skipContentWithSameMarkup(bytes, from: head.count)
                    ?? (try? scanner.skipContent(of: payloadName, depth: payloadDepth)),
                bytes.count - payloadEnd >= tail.count, Self.equal(bytes, at: payloadEnd, tail)
            else { return nil }
            let length = payloadEnd + tail.count
            guard length <= limits.maximumStanzaBytes else { return nil }
            let element = eventElement.map { $0.start..<(payloadEnd + $0.endAfterPayload) }
            return (length, payloadStart..<payloadEnd, element)
        }

        /// Reads on from `start` while the messages that follow (after any whitespace between
        /// stanzas) have this envelope and a forwardable `<event>` element, with the checks and
        /// verdicts of ``EventScanner/scanLeading(_:limits:recentChannel:copyPayload:memo:)``;
        /// appends each one's element range to `elements` and returns the offset after the last.
        /// A message is begun only while more than `reserved` bytes remain from where it (or the
        /// whitespace before it) starts, and while the run has taken fewer than `maximumBytes`
        /// from `start`.
        public func matchRun(
            _ bytes: UnsafeRawBufferPointer,
            from start: Int,
            reserved: Int,
            maximumBytes: Int = .max,
            limits: XMLStreamFramer.Limits,
            into elements: inout [Range<Int>]
        ) -> Int {
            guard limits == self.limits, eventElement != nil else { return start }
            var end = start
            while bytes.count - end > reserved, end - start < maximumBytes {
                var next = end
                while next < bytes.count, XMLSyntax.isWhitespace(bytes[next]) { next += 1 }
                guard next < bytes.count, bytes[next] == UInt8(ascii: "<") else { break }
                let rest = UnsafeRawBufferPointer(rebasing: bytes[next...])
                var scanner = Scanner(leading: rest, limits: limits)
                guard let found = match(rest, scanner: &scanner), let element = found.element else { break }
                elements.append((element.lowerBound + next)..<(element.upperBound + next))
                end = next + found.length
            }
            return end
        }

        private static func equal(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ expected: [UInt8]) -> Bool {
            expected.withUnsafeBytes { memcmp(bytes.baseAddress! + offset, $0.baseAddress!, expected.count) == 0 }
        }
    }
}

private struct Scanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    /// The raw `id` of the message, once its start tag is read.
    var messageID: Range<Int>?
    /// The message starts the input and may be followed by anything (the next stanza): the scan
    /// ends at its end tag, left in ``position``.
    var leading = false
    /// Deepest nesting accepted, counting the message.
    var maximumDepth = EventScanner.maximumDepth
    /// Most attributes on one tag (``XMLSyntax`` refuses more than its own bound in any case).
    var maximumAttributes = XMLSyntax.maximumAttributes
    /// Where the payload's content lay (after its start tag, through its end tag), once read.
    var payloadContent: PayloadContent?

    struct PayloadContent {
        var start: Int
        var end: Int
        var name: Range<Int>
        var depth: Int
    }

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// A scanner for the message at the start of `bytes`, within the framer's `limits`.
    init(leading bytes: UnsafeRawBufferPointer, limits: XMLStreamFramer.Limits) {
        self.bytes = bytes
        leading = true
        // The framer counts the stream root; the scanner counts from the message.
        maximumDepth = min(EventScanner.maximumDepth, limits.maximumDepth - 1)
        maximumAttributes = min(XMLSyntax.maximumAttributes, limits.maximumAttributes)
    }

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
    private enum Place: Equatable {
        case message, event, to, from
        case field(Field)
    }

    /// The envelope elements seen so far: each may appear once.
    private struct Seen: OptionSet {
        let rawValue: UInt16
        static let event = Seen(rawValue: 1 << 0)
        static let to = Seen(rawValue: 1 << 1)
        static let from = Seen(rawValue: 1 << 2)
        static let payload = Seen(rawValue: 1 << 3)
        static let channel = Seen(rawValue: 1 << 4)
        static let toService = Seen(rawValue: 1 << 5)
        static let toInstance = Seen(rawValue: 1 << 6)
        static let fromService = Seen(rawValue: 1 << 7)
        static let fromInstance = Seen(rawValue: 1 << 8)
    }

    private static let lessThan = UInt8(ascii: "<")

    /// Marks `element` seen, refusing it the second time.
    private static func note(_ element: Seen, _ name: StaticString, in parent: StaticString, _ seen: inout Seen) throws
    {
        guard !seen.contains(element) else { throw PsEPRError.repeatedEnvelopeElement("\(name)", in: "\(parent)") }
        seen.insert(element)
    }

    mutating func message(recentChannel: ChannelName?, copyPayload: Bool) throws -> EventScanner.Scanned? {
        // A leading message starts at its `<`, as the framer's stanza would.
        if !leading { skipWhitespace() }
        guard position < bytes.count, bytes[position] == Self.lessThan,
            try XMLSyntax.markup(bytes, at: position) == .startTag
        else { return nil }
        let messageTag = try startTag()
        guard localIs(messageTag.name, "message") else { return nil }
        var fields = Fields()
        if let type = messageTag.type, isName(type, "error") { return nil }
        fields.id = messageTag.id
        messageID = messageTag.id
        guard !messageTag.selfClosing else { return nil }  // <message/> carries no event
        // The open envelope elements, innermost last (at most four), with their names.
        var places: (Place, Place, Place, Place) = (.message, .message, .message, .message)
        var names: (Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (messageTag.name, 0..<0, 0..<0, 0..<0)
        var level = 0
        var seen = Seen()
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
            let next = try XMLSyntax.checkCharacterData(bytes, from: position, until: Self.lessThan)
            guard next < bytes.count else { throw PsEPRError(.malformedXML, "the message is not closed") }
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
            position = next
            switch try XMLSyntax.markup(bytes, at: next) {
            case .endTag:
                let open: Range<Int>
                switch level {
                case 0: open = names.0
                case 1: open = names.1
                case 2: open = names.2
                default: open = names.3
                }
                position = try XMLSyntax.endTag(bytes, at: next, closing: open)
                if level == 1 { eventElement = eventStart..<position }
                level -= 1
                continue
            case .declaration: throw XMLSyntax.declarationRefused()
            case .comment, .characterData, .instruction: return nil  // unusual in the envelope
            case .startTag: break
            }
            let tagStart = next
            let tag = try startTag()
            let name = tag.name
            let local = localPart(name)
            let prefixed = local.lowerBound != name.lowerBound
            // Inside the event, prefixed names would need declarations from outside it.
            if level >= 1, top != .event || !isName(local, "payload") {
                if tag.hasPrefixedName || prefixed { selfContained = false }
            }
            let place: Place
            switch top {
            case .message where isName(local, "event"):
                try Self.note(.event, "event", in: "message", &seen)
                place = .event
                eventStart = tagStart
                if prefixed || tag.hasPrefixedName
                    || tag.xmlns.map({ !isName($0, "http://psepr.org/xs/event") }) ?? true
                {
                    selfContained = false
                }
            case .event where isName(local, "to"):
                try Self.note(.to, "to", in: "event", &seen)
                place = .to
            case .event where isName(local, "from"):
                try Self.note(.from, "from", in: "event", &seen)
                place = .from
            case .event where isName(local, "payload"):
                try Self.note(.payload, "payload", in: "event", &seen)
                fields.payloadNamespace = tag.xmlns
                if tag.selfClosing {
                    fields.payload = tagStart..<position
                } else {
                    let contentStart = position
                    guard let end = try skipContent(of: name, depth: level + 2) else { return nil }
                    fields.payload = tagStart..<end
                    payloadContent = PayloadContent(start: contentStart, end: end, name: name, depth: level + 2)
                }
                continue
            case .to where isName(local, "channel"):
                try Self.note(.channel, "channel", in: "to", &seen)
                place = .field(.channel)
            case .to where isName(local, "service"):
                try Self.note(.toService, "service", in: "to", &seen)
                place = .field(.toService)
            case .to where isName(local, "instance"):
                try Self.note(.toInstance, "instance", in: "to", &seen)
                place = .field(.toInstance)
            case .from where isName(local, "service"):
                try Self.note(.fromService, "service", in: "from", &seen)
                place = .field(.fromService)
            case .from where isName(local, "instance"):
                try Self.note(.fromInstance, "instance", in: "from", &seen)
                place = .field(.fromInstance)
            case .field: return nil  // markup inside a routing field
            default:
                // Anything else (an XEP-0023 <x/>, an extension) is passed over whole, checked;
                // inside the event it is not looked into, so the element is not forwarded as it is.
                if level >= 1 { selfContained = false }
                if !tag.selfClosing { guard try skipContent(of: name, depth: level + 2) != nil else { return nil } }
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
        if !leading {
            skipWhitespace()
            guard position == bytes.count else { return nil }
        }
        guard seen.contains(.event) else { return nil }
        guard let channelRange = fields.channel, let channel = channelName(channelRange, recent: recentChannel) else {
            return nil
        }
        guard let toService = optionalField(fields.toService), let toInstance = optionalField(fields.toInstance),
            let fromService = optionalField(fields.fromService), let fromInstance = optionalField(fields.fromInstance)
        else { return nil }
        if let id = fields.id, !isPlain(id) { return nil }
        if let namespace = fields.payloadNamespace, !isPlain(namespace) { return nil }
        let event = Event(
            id: fields.id.map(text),
            channel: channel,
            toService: toService,
            toInstance: toInstance,
            fromService: fromService,
            fromInstance: fromInstance,
            payloadNamespace: fields.payloadNamespace.map(text),
            payload: copyPayload ? fields.payload.map { Array(bytes[$0]) } ?? [] : []
        )
        // An instance without a service means nothing, and the encoder leaves it out: so must a
        // forwarded element.
        if toService == nil && fields.toInstance != nil { selfContained = false }
        return EventScanner.Scanned(
            event: event,
            selfContainedElement: selfContained ? eventElement : nil,
            payloadRange: fields.payload
        )
    }

    /// An optional routing field: `.some(nil)` when absent or empty, nil when not plain.
    private func optionalField(_ range: Range<Int>?) -> String?? {
        guard let range else { return .some(nil) }
        guard isPlain(range) else { return nil }
        return .some(field(range))
    }

    // MARK: Tags

    /// The attributes the envelope needs, as raw value ranges, and whether the tag closed itself.
    struct Tag {
        var name: Range<Int> = 0..<0
        var id: Range<Int>?
        var type: Range<Int>?
        var xmlns: Range<Int>?
        var selfClosing = false
        /// An attribute with a prefix other than `xmlns:`.
        var hasPrefixedName = false
    }

    /// Reads and checks the start tag at the position, and moves past it.
    mutating func startTag() throws -> Tag {
        let bytes = self.bytes
        var tag = Tag()
        let lexed = try XMLSyntax.startTag(bytes, at: position) { name, value in
            if name.count == 2 {
                if XMLSyntax.equal(bytes, name, "id") { tag.id = value }
            } else if name.count == 4 {
                if XMLSyntax.equal(bytes, name, "type") { tag.type = value }
            } else if name.count == 5 && XMLSyntax.equal(bytes, name, "xmlns") {
                tag.xmlns = value
                return
            }
            if !tag.hasPrefixedName, name.contains(where: { bytes[$0] == UInt8(ascii: ":") }),
                !(name.count > 6 && XMLSyntax.starts(bytes, at: name.lowerBound, with: "xmlns:"))
            {
                tag.hasPrefixedName = true
            }
        }
        try checkAttributeCount(lexed)
        tag.name = lexed.name
        tag.selfClosing = lexed.isSelfClosing
        position = lexed.end
        return tag
    }

    /// Refuses a tag with more attributes than this scan allows.
    @inline(__always)
    func checkAttributeCount(_ tag: XMLSyntax.StartTag) throws {
        guard tag.attributeCount <= maximumAttributes else {
            throw PsEPRError(.tooManyAttributes, "a tag has more than \(maximumAttributes) attributes")
        }
    }

    /// Skips and checks the content of element `name`, at nesting `depth` (the message is 1),
    /// after its start tag, through its end tag; returns the offset after it, or nil when it
    /// nests deeper than this reads (the full parser decides).
    mutating func skipContent(of name: Range<Int>, depth: Int) throws -> Int? {
        // The open elements' names, on the stack rather than the heap.
        try withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: EventScanner.maximumDepth) { open in
            open[0] = name
            var count = 1
            while count > 0 {
                let next = try XMLSyntax.checkCharacterData(bytes, from: position, until: Self.lessThan)
                guard next < bytes.count else { throw PsEPRError(.malformedXML, "an element is not closed") }
                switch try XMLSyntax.markup(bytes, at: next) {
                case .endTag:
                    count -= 1
                    position = try XMLSyntax.endTag(bytes, at: next, closing: open[count])
                case .comment: position = try XMLSyntax.comment(bytes, at: next)
                case .characterData: position = try XMLSyntax.characterData(bytes, at: next).end
                case .instruction: position = try XMLSyntax.instruction(bytes, at: next, allowDeclaration: false)
                case .declaration: throw XMLSyntax.declarationRefused()
                case .startTag:
                    guard depth + count <= maximumDepth else {
                        throw PsEPRError(.tooDeep, "elements nested deeper than \(maximumDepth)")
                    }
                    let tag = try XMLSyntax.startTag(bytes, at: next)
                    try checkAttributeCount(tag)
                    position = tag.end
                    if !tag.isSelfClosing {
                        guard count < open.count else { return nil }
                        open[count] = tag.name
                        count += 1
                    }
                }
            }
            return position
        }
    }

    // MARK: Bytes

    func equal(at index: Int, _ pattern: StaticString) -> Bool { XMLSyntax.starts(bytes, at: index, with: pattern) }

    mutating func skipWhitespace() {
        while position < bytes.count, XMLSyntax.isWhitespace(bytes[position]) { position += 1 }
    }

    func isWhitespace(_ range: Range<Int>) -> Bool {
        range.allSatisfy { XMLSyntax.isWhitespace(bytes[$0]) }
    }

    /// ASCII without markup or entity references: read as it is.
    func isPlain(_ range: Range<Int>) -> Bool {
        range.allSatisfy { bytes[$0] < 0x80 && bytes[$0] != UInt8(ascii: "&") && bytes[$0] != Self.lessThan }
    }

    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
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

    /// A routing field's text, trimmed; nil when empty (as ``ParsedElement/childText(_:)``), or
    /// when it is not plain (the caller then falls back).
    /// The channel named in `range`: `recent` when the bytes spell it, else parsed and checked.
    func channelName(_ range: Range<Int>, recent: ChannelName?) -> ChannelName? {
        if let recent {
            var lower = range.lowerBound
            var upper = range.upperBound
            while lower < upper, XMLSyntax.isWhitespace(bytes[lower]) { lower += 1 }
            while upper > lower, XMLSyntax.isWhitespace(bytes[upper - 1]) { upper -= 1 }
            let same = recent.rawValue.utf8.withContiguousStorageIfAvailable { name in
                name.count == upper - lower
                    && name.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[lower..<upper]))
            }
            if same == true { return recent }
        }
        return field(range).flatMap { try? ChannelName($0) }
    }

    func field(_ range: Range<Int>) -> String? {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, XMLSyntax.isWhitespace(bytes[lower]) { lower += 1 }
        while upper > lower, XMLSyntax.isWhitespace(bytes[upper - 1]) { upper -= 1 }
        guard lower < upper, isPlain(lower..<upper) else { return nil }
        return text(lower..<upper)
    }
}
