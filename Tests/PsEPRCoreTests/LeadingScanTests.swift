import NIOCore
import PsEPRCore
import PsEPRTesting
import Testing

/// The one-pass read of an event at the front of unframed input must take exactly what the
/// framer would frame and give exactly what the scanner gives for that stanza, or take nothing.
@Suite("Framing and scanning in one pass")
struct LeadingScanTests {
    static let header = Array(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".utf8
    )

    enum Framed: Equatable {
        case stanza([UInt8])
        case refused
    }

    /// What the framer makes of `input` after a stream header: the first stanza's bytes, or a
    /// refusal before it finishes one (nil: it needs more bytes).
    static func framed(_ input: [UInt8], limits: XMLStreamFramer.Limits = .init()) -> Framed? {
        var framer = XMLStreamFramer(mode: .stream, limits: limits)
        var buffer = ByteBuffer(bytes: header + input)
        do {
            while let frame = try framer.decode(buffer: &buffer) {
                if case .stanza(let stanza) = frame { return .stanza(Array(stanza.readableBytesView)) }
            }
            return nil
        } catch {
            return .refused
        }
    }

    static func leading(
        _ input: [UInt8],
        limits: XMLStreamFramer.Limits = .init()
    ) -> (scanned: EventScanner.Scanned, length: Int)? {
        input.withUnsafeBytes {
            EventScanner.scanLeadingMessage($0, limits: limits, recentChannel: nil, copyPayload: true)
        }
    }

    /// Checks one input: whatever the one-pass read takes is the framer's first stanza, and the
    /// scanner's verdict on that stanza alone is the same event with the same ranges.
    @discardableResult
    static func expectAgreement(
        _ input: [UInt8],
        limits: XMLStreamFramer.Limits = .init(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        guard let (scanned, length) = leading(input, limits: limits) else { return false }
        let stanza = Array(input[..<length])
        #expect(
            framed(input, limits: limits) == .stanza(stanza),
            "framer disagrees on \(String(decoding: input, as: UTF8.self))",
            sourceLocation: sourceLocation
        )
        #expect(stanza.withUnsafeBytes { EventScanner.check($0) } == .scanned(scanned), sourceLocation: sourceLocation)
        return true
    }

    /// A publisher's event on `channel` with `body` as its payload's text.
    static func message(_ channel: String, _ body: String) -> [UInt8] {
        Array(
            ("<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to>"
                + "<from><service>bench</service><instance>pub</instance></from><payload xmlns='urn:bench'><v>\(body)</v></payload></event></message>")
                .utf8
        )
    }

    static let followers: [[UInt8]] = [
        [], Array(" ".utf8), Array("<".utf8), Array("<message id='n'>".utf8), Array("\n<iq type='get'/>".utf8),
        Array("</stream:stream>".utf8), Array("garbage".utf8), [0xFF, 0x00],
    ]

    @Test func everyValidStanzaIsTakenWhateverFollowsIt() {
        for text in WellFormednessTests.valid where WellFormednessTests.scanned(Array(text.utf8)).isAccepted {
            for follower in Self.followers {
                #expect(Self.expectAgreement(Array(text.utf8) + follower), "\(text)")
            }
        }
    }

    @Test func anUnfinishedStanzaIsLeftToTheFramer() {
        for text in WellFormednessTests.valid {
            let bytes = Array(text.utf8)
            for cut in 0..<bytes.count { #expect(Self.leading(Array(bytes[..<cut])) == nil, "\(text) cut at \(cut)") }
        }
    }

    @Test(arguments: 0..<4)
    func seededMutationsAreTakenOnlyAsTheFramerAndScannerWould(seed: UInt64) {
        var generator = SplitMix64(seed: 0x1EAD_0000 + seed)
        let originals =
            WellFormednessTests.valid.map { Array($0.utf8) } + Poison.classes.map { stanza(payload: $0.payload) }
        var taken = 0
        for _ in 0..<1000 {
            let original = originals.randomElement(using: &generator)!
            let follower = Self.followers.randomElement(using: &generator)!
            if Self.expectAgreement(Poison.mutate(original, using: &generator) + follower) { taken += 1 }
        }
        #expect(taken > 20, "taken \(taken)")
    }

    /// With the sender's previous message remembered, only a payload between a repeated
    /// envelope is scanned: the answer must be the one a scan from scratch gives, whatever
    /// changed (envelope, payload, or nothing).
    @Test(arguments: 0..<4)
    func theEnvelopeMemoNeverChangesTheAnswer(seed: UInt64) {
        var generator = SplitMix64(seed: 0x3E30_0000 + seed)
        let originals = WellFormednessTests.valid.map { Array($0.utf8) }
        var memo: EventScanner.LeadingMemo?
        var taken = 0
        for _ in 0..<2000 {
            let original = originals.randomElement(using: &generator)!
            // Now and then the stanza as it is (which primes the memo), otherwise a mutation.
            let stanza =
                Int.random(in: 0..<3, using: &generator) == 0 ? original : Poison.mutate(original, using: &generator)
            let bytes = stanza + Self.followers.randomElement(using: &generator)!
            let fresh = Self.leading(bytes)
            let remembered = bytes.withUnsafeBytes {
                EventScanner.scanLeadingMessage($0, limits: .init(), recentChannel: nil, copyPayload: true, memo: &memo)
            }
            #expect(fresh?.length == remembered?.length, "\(String(decoding: bytes, as: UTF8.self))")
            #expect(fresh?.scanned == remembered?.scanned, "\(String(decoding: bytes, as: UTF8.self))")
            if remembered != nil { taken += 1 }
        }
        #expect(taken > 500, "taken \(taken)")
    }

    /// A payload whose markup is the remembered one's, piece for piece, has only its text
    /// checked; any other markup, or text that is refused, gets the full scan. Either way the
    /// answer is the one a scan from scratch gives.
    @Test(arguments: [
        "<v>new text</v><w/>", "<v></v><w/>", "<v>&amp;&#x41; > ]] \u{E9}\u{20AC}</v><w/>", "\n<v>x</v>\n<w/>\n",
        "<v>&bogus;</v><w/>", "<v>]]></v><w/>", "<v>\u{1}</v><w/>", "<v>a<b/>c</v><w/>", "<v>x</v><x/>", "<v>x</v>",
        "<v>x</v><w/><w/>", "<v>x</v><w/>&", "<v a='1'>x</v><w/>", "<v>x</v><w><!-- c --></w>", "<v>x</w><w/>",
        "<v>x</v><w/>]]>", "<v>x</v><w/", "<w/><v>x</v>",
    ])
    func aPayloadWithTheRememberedMarkupGetsTheFullScansAnswer(_ content: String) {
        func message(_ content: String) -> [UInt8] {
            Array(
                ("<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>/ch/</channel></to>"
                    + "<from><service>b</service><instance>p</instance></from><payload xmlns='urn:x'>\(content)</payload></event></message>")
                    .utf8
            )
        }
        for remembered in ["<v>x</v><w/>", "<v a='q'>x</v><w/>"] {
            var memo: EventScanner.LeadingMemo?
            let primed = message(remembered).withUnsafeBytes {
                EventScanner.scanLeadingMessage($0, limits: .init(), copyPayload: true, memo: &memo)
            }
            #expect(primed != nil && memo != nil)
            let bytes = message(content) + Array("<message".utf8)
            let fresh = Self.leading(bytes)
            let read = bytes.withUnsafeBytes {
                EventScanner.scanLeadingMessage($0, limits: .init(), copyPayload: true, memo: &memo)
            }
            #expect(read?.length == fresh?.length && read?.scanned == fresh?.scanned, "\(content) after \(remembered)")
        }
    }

    /// ``EventScanner/scanLeading(_:limits:recentChannel:copyPayload:memo:)`` says when the
    /// envelope is the memo's (nothing built) and when the memo was replaced, as callers that
    /// keep what they derived from it rely on.
    @Test func theLeadingScanSaysWhenTheEnvelopeRepeatsAndWhenTheMemoChanges() throws {
        var memo: EventScanner.LeadingMemo?
        func read(_ bytes: [UInt8]) -> EventScanner.Leading? {
            bytes.withUnsafeBytes { EventScanner.scanLeading($0, limits: .init(), copyPayload: false, memo: &memo) }
        }
        guard case .scanned(let first, let length, memoReplaced: true)? = read(Self.message("/ch/", "1")) else {
            Issue.record("the first message is read in full and remembered")
            return
        }
        #expect(length == Self.message("/ch/", "1").count && first.event.payload.isEmpty)
        let second = Self.message("/ch/", "22")
        guard case .repeated(let secondLength, let payload, let element?)? = read(second) else {
            Issue.record("the same envelope is recognised")
            return
        }
        #expect(secondLength == second.count)
        #expect(Array(second[payload]) == Array("<payload xmlns='urn:bench'><v>22</v></payload>".utf8))
        #expect(String(decoding: second[element], as: UTF8.self).hasSuffix("<v>22</v></payload></event>"))
        #expect(memo?.event == first.event)
        guard case .scanned(let other, _, memoReplaced: true)? = read(Self.message("/other/", "3")) else {
            Issue.record("another envelope replaces the memo")
            return
        }
        #expect(other.event.channel.rawValue == "/other/" && memo?.event.channel.rawValue == "/other/")
        // A payload the memo's envelope does not surround well is not taken at all.
        #expect(read(Self.message("/other/", "<b>")) == nil)
    }

    /// A publisher's burst with one envelope is read as a run: each `<event>` element where the
    /// one-by-one read finds it, whitespace between stanzas passed over, up to the first message
    /// that does not repeat the envelope, is not whole or not well-formed, or begins in the
    /// reserved bytes.
    @Test func aRunOfRepeatedEnvelopesIsReadAsTheOneByOneReadWould() throws {
        var memo: EventScanner.LeadingMemo?
        _ = Self.message("/ch/", "0").withUnsafeBytes {
            EventScanner.scanLeading($0, limits: .init(), copyPayload: false, memo: &memo)
        }
        let remembered = try #require(memo)
        func run(_ input: [UInt8], reserved: Int = 0, limits: XMLStreamFramer.Limits = .init()) -> (Int, [Range<Int>]) {
            var elements: [Range<Int>] = []
            let end = input.withUnsafeBytes {
                remembered.matchRun($0, from: 0, reserved: reserved, limits: limits, into: &elements)
            }
            return (end, elements)
        }
        let long = String(repeating: "2", count: 300)
        let burst =
            [Self.message("/ch/", "1"), Array(" \n".utf8), Self.message("/ch/", long)]
            + (3..<9).map { Self.message("/ch/", String(repeating: "\($0)", count: $0)) }
        let whole = burst.flatMap { $0 }
        let (end, elements) = run(whole + Self.message("/other/", "9"))
        #expect(end == whole.count)
        // Each element is the one the one-by-one read finds at that place.
        var expected: [Range<Int>] = []
        var offset = 0
        for piece in burst {
            defer { offset += piece.count }
            guard piece.first == UInt8(ascii: "<") else { continue }
            var copy: EventScanner.LeadingMemo? = remembered
            let leading = piece.withUnsafeBytes {
                EventScanner.scanLeading($0, limits: .init(), copyPayload: false, memo: &copy)
            }
            guard case .repeated(let length, _, let element?)? = leading else {
                Issue.record("the one-by-one read repeats the envelope")
                return
            }
            #expect(length == piece.count)
            expected.append((element.lowerBound + offset)..<(element.upperBound + offset))
        }
        #expect(elements == expected)
        for element in elements {
            #expect(String(decoding: whole[element], as: UTF8.self).hasPrefix("<event xmlns="))
            #expect(String(decoding: whole[element], as: UTF8.self).hasSuffix("</payload></event>"))
        }
        // No message is begun within the reserved bytes.
        let last = burst.last!.count
        #expect(run(whole, reserved: last).0 == whole.count - last)
        #expect(run(whole, reserved: last - 1).0 == whole.count)
        // A message cut short, or one whose payload is not well-formed, ends the run before it.
        let first = Self.message("/ch/", "1")
        #expect(run(first + Self.message("/ch/", "2").dropLast()).0 == first.count)
        #expect(run(first + Self.message("/ch/", "<b>")).0 == first.count)
        #expect(run(first + Array("</stream:stream>".utf8)).0 == first.count)
        // A memo made under other limits reads no run.
        #expect(run(whole, limits: XMLStreamFramer.Limits(maximumDepth: 9)) == (0, []))
    }

    @Test func aRepeatedEnvelopeWithANewPayloadIsReadWhole() throws {
        func message(_ payload: String, tail: String = "</event></message>") -> [UInt8] {
            Array(
                ("<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>/ch/</channel></to>"
                    + "<from><service>bench</service><instance>pub</instance></from><payload xmlns='urn:bench'>\(payload)</payload>"
                    + tail).utf8
            )
        }
        var memo: EventScanner.LeadingMemo?
        func read(_ bytes: [UInt8]) -> (scanned: EventScanner.Scanned, length: Int)? {
            bytes.withUnsafeBytes {
                EventScanner.scanLeadingMessage($0, limits: .init(), copyPayload: true, memo: &memo)
            }
        }
        let first = try #require(read(message("<v>x</v>")))
        #expect(memo != nil)
        let second = try #require(read(message("<v>a longer payload</v>") + Array("<message".utf8)))
        #expect(second.length == message("<v>a longer payload</v>").count)
        #expect(
            second.scanned.event.payload == Array("<payload xmlns='urn:bench'><v>a longer payload</v></payload>".utf8)
        )
        #expect(
            second.scanned.event.channel == first.scanned.event.channel && second.scanned.event.fromInstance == "pub"
        )
        let element = try #require(second.scanned.selfContainedElement)
        #expect(element.upperBound == second.length - "</message>".utf8.count)
        // A payload that is not well-formed, or a changed tail, is never taken on the memo's word.
        #expect(read(message("<v>&bogus;</v>")) == nil)
        #expect(read(message("<v>x</w>")) == nil)
        #expect(read(message("<v>x</v>", tail: "</event></mess>")) == nil)
        #expect(read(message("<v>x</v>", tail: "</event >\u{0}</message>")) == nil)
    }

    /// A stanza past one of the framer's configured bounds is never taken: the framer refuses it.
    @Test func theFramersLimitsAreKept() {
        let event =
            "<message id='a'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><payload xmlns='urn:x'>"
        let deep = Array((event + "<a><b><c><d/></c></b></a></payload></event></message>").utf8)
        let attributes = Array((event + "<a p='1' q='2' r='3'/></payload></event></message>").utf8)
        #expect(Self.leading(deep) != nil && Self.leading(attributes) != nil)
        // Counting the stream root, the payload's <c> is at depth 7 (the framer does not count
        // the empty <d/>; the one-pass read does, so it leaves depth 7 to the framer as well).
        #expect(Self.leading(deep, limits: XMLStreamFramer.Limits(maximumDepth: 7)) == nil)
        for (bytes, limits) in [
            (deep, XMLStreamFramer.Limits(maximumDepth: 6)), (attributes, XMLStreamFramer.Limits(maximumAttributes: 2)),
            (deep, XMLStreamFramer.Limits(maximumStanzaBytes: deep.count - 1)),
        ] {
            #expect(Self.leading(bytes, limits: limits) == nil)
            #expect(Self.framed(bytes, limits: limits) == .refused)
        }
        #expect(Self.expectAgreement(deep, limits: XMLStreamFramer.Limits(maximumDepth: 8)))
        #expect(Self.expectAgreement(attributes, limits: XMLStreamFramer.Limits(maximumAttributes: 3)))
        #expect(Self.expectAgreement(deep, limits: XMLStreamFramer.Limits(maximumStanzaBytes: deep.count)))
    }
}
