import PsEPRCore
import PsEPRTesting
import Testing

@Suite("Well-formedness: scanner and parser agree")
struct WellFormednessTests {
    /// What one reader made of a stanza.
    enum Reading: Equatable, CustomStringConvertible {
        case accepted(Event)
        case refused(PsEPRError.Code)
        /// The scanner left it to the parser.
        case deferred

        var description: String {
            switch self {
            case .accepted(let event): "accepted \(event.channel.rawValue)"
            case .refused(let code): "refused (\(code))"
            case .deferred: "deferred"
            }
        }
    }

    static func scanned(_ bytes: [UInt8]) -> Reading {
        switch bytes.withUnsafeBytes({ EventScanner.check($0) }) {
        case .scanned(let scanned): .accepted(scanned.event)
        case .refused(let error, _): .refused(error.code)
        case .unusual: .deferred
        }
    }

    static func parsed(_ bytes: [UInt8]) -> Reading {
        do {
            return .accepted(try Event(stanza: bytes))
        } catch let error as PsEPRError {
            return .refused(error.code)
        } catch {
            return .refused(.malformedXML)
        }
    }

    /// The scanner's verdict, where it gives one, is the parser's: the same accept or refuse,
    /// and when accepted the same routing fields and payload bytes.
    static func expectAgreement(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Reading {
        let scan = scanned(bytes)
        let parse = parsed(bytes)
        switch (scan, parse) {
        case (.deferred, _): break
        case (.accepted(let fast), .accepted(let full)):
            #expect(
                fast == full,
                "fields differ for \(String(decoding: bytes, as: UTF8.self))",
                sourceLocation: sourceLocation
            )
        case (.refused, .refused): break
        default:
            Issue.record(
                "scanner \(scan), parser \(parse): \(bytes.map { $0 < 0x20 || $0 >= 0x7F ? "\\x\(String($0, radix: 16))" : String(UnicodeScalar($0)) }.joined())",
                sourceLocation: sourceLocation
            )
        }
        return scan
    }

    @Test(arguments: Poison.classes.indices)
    func eachPoisonPayloadIsRefusedByBoth(_ index: Int) {
        let (name, payload) = Poison.classes[index]
        let bytes = stanza(payload: payload)
        #expect(Self.expectAgreement(bytes) == .refused(.malformedXML), "\(name)")
        #expect(Self.parsed(bytes) == .refused(.malformedXML), "\(name)")
        // The message's id still comes back with the refusal.
        if case .refused(_, let id) = bytes.withUnsafeBytes({ EventScanner.check($0) }) { #expect(id == "p1") }
    }

    @Test(arguments: Poison.repeatedEnvelopes.indices)
    func aRepeatedEnvelopeElementIsRefusedByBoth(_ index: Int) {
        let (name, text) = Poison.repeatedEnvelopes[index]
        let bytes = Array(text.utf8)
        #expect(Self.scanned(bytes) == .refused(.malformedEvent), "\(name)")
        #expect(Self.parsed(bytes) == .refused(.malformedEvent), "\(name)")
    }

    static let valid: [String] =
        EventScannerTests.usual + [
            Stork.lease,
            "<message id='m'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/b/</channel><service>s</service><instance>i</instance></to><from><service>f</service><instance>g</instance></from><payload xmlns='urn:x' k='v' j=\"w\"><a b='&lt;&amp;&#x41;&#66;'>t &gt; u ]] &quot;&apos; caf\u{E9} \u{10348}</a><!-- c - d --><![CDATA[ & < ]] ]]><?target body?><e\n f = 'g'\t/></payload></event></message>",
            "<message id='x'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><payload xmlns='urn:x'>\t\r\n<deep><er><est/></er></deep></payload></event></message>",
        ]

    @Test func validStanzasAreAcceptedByBothAlike() {
        for text in Self.valid {
            let reading = Self.expectAgreement(Array(text.utf8))
            #expect(reading != .refused(.malformedXML), "\(text)")
            #expect(Self.parsed(Array(text.utf8)).isAccepted, "\(text)")
        }
    }

    @Test func wellFormedButOddXMLIsAccepted() throws {
        // Legal XML 1.0 the readers must not refuse: every Char range edge, references at the
        // edges, C1 controls (legal in XML 1.0), `>` alone in text.
        let text =
            "<v a='&#x9;&#xA;&#xD;&#x20;&#xD7FF;&#xE000;&#xFFFD;&#x10000;&#x10FFFF;'>\u{80}\u{9F}\u{D7FF}\u{E000}\u{FFFD}\u{10FFFF} > ]></v>"
        let bytes = stanza(payload: Poison.payload(Array(text.utf8)))
        #expect(Self.expectAgreement(bytes).isAccepted)
    }

    @Test(arguments: [
        "<v>&#0;</v>", "<v>&#xD800;</v>", "<v>&#xFFFE;</v>", "<v>&#x110000;</v>", "<v>&#99999999999999999999;</v>",
        "<v>&#X41;</v>",
        "<v>&#;</v>", "<v>&amp</v>", "<v>a & b</v>", "<v>]]></v>", "<v a='1'b='2'/>", "<v a=1/>",
        "<v a='1' b='2' a='3'/>",
        "<!-- a -- b -->", "<!-- a --->", "<?xml version='1.0'?>", "<?XmL x?>", "<!DOCTYPE v>", "<v></w>", "<v>",
        "<1v/>",
        "<v\u{E9}/>", "<v \u{E9}='1'/>", "<v>\u{FFFF}</v>", "<![CDATA[\u{1}]]>", "<!-- \u{0} -->", "<?pi \u{1}?>",
    ])
    func malformedPayloadsAreRefusedByBoth(_ inner: String) {
        let bytes = stanza(payload: Poison.payload(Array(inner.utf8)))
        let reading = Self.expectAgreement(bytes)
        #expect(reading.isRefused, "\(inner): \(reading)")
        #expect(Self.parsed(bytes).isRefused, "\(inner)")
    }

    @Test(
        arguments: [
            [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF8, 0x88, 0x80, 0x80, 0x80],
            [0x80], [0xC3], [0xE2, 0x82], [0xEF, 0xBF, 0xBE], [0xFE], [0x7F - 0x7F],
        ] as [[UInt8]]
    )
    func malformedUTF8IsRefusedByBoth(_ sequence: [UInt8]) {
        for place in [
            Poison.payload(Array("<v>".utf8) + sequence + Array("</v>".utf8)),
            Poison.payload(Array("<v a='".utf8) + sequence + Array("'/>".utf8)),
        ] {
            let bytes = stanza(payload: place)
            #expect(Self.expectAgreement(bytes).isRefused)
            #expect(Self.parsed(bytes).isRefused)
        }
    }

    /// Plain text is passed over sixteen bytes at a time, so each byte that needs a look is put at
    /// every place of a block and past it, in text and in an attribute value, with the verdict
    /// XML 1.0 gives (not only the two readers' agreement: they share the character checks).
    @Test(
        arguments: [
            (Array("\u{1}".utf8), text: false, value: false), (Array("\u{1F}".utf8), text: false, value: false),
            ([0x00], text: false, value: false), (Array("\t\n\r".utf8), text: true, value: true),
            (Array("\u{7F}".utf8), text: true, value: true), (Array("\u{E9}\u{20AC}".utf8), text: true, value: true),
            ([0xFF], text: false, value: false), ([0xC3], text: false, value: false),
            (Array("&amp;&#x41;".utf8), text: true, value: true), (Array("&bogus;".utf8), text: false, value: false),
            (Array("]]>".utf8), text: false, value: true), (Array(">".utf8), text: true, value: true),
            (Array("<".utf8), text: false, value: false), (Array("\"".utf8), text: true, value: true),
        ] as [([UInt8], text: Bool, value: Bool)]
    )
    func aByteThatNeedsALookIsFoundWhereverItLies(_ special: [UInt8], text: Bool, value: Bool) {
        for place in 0..<40 {
            let content =
                Array(repeating: UInt8(ascii: "a"), count: place) + special
                + Array(repeating: UInt8(ascii: "b"), count: 40 - place)
            for (inner, accepted) in [
                (Array("<v>".utf8) + content + Array("</v>".utf8), text),
                (Array("<v a='".utf8) + content + Array("'/>".utf8), value),
            ] {
                let bytes = stanza(payload: Poison.payload(inner))
                let expected = accepted ? "accepted" : "refused"
                #expect(Self.parsed(bytes).isAccepted == accepted, "parser: \(special) at \(place) not \(expected)")
                #expect(Self.scanned(bytes).isAccepted == accepted, "scanner: \(special) at \(place) not \(expected)")
            }
        }
    }

    @Test(arguments: 0..<4)
    func seededMutationsOfValidStanzasGetTheSameVerdict(seed: UInt64) {
        var generator = SplitMix64(seed: 0x5EED_0000 + seed)
        let originals = Self.valid.map { Array($0.utf8) } + Poison.classes.map { stanza(payload: $0.payload) }
        var decided = 0
        var accepted = 0
        for _ in 0..<1000 {
            let original = originals.randomElement(using: &generator)!
            let reading = Self.expectAgreement(Poison.mutate(original, using: &generator))
            if reading != .deferred { decided += 1 }
            if reading.isAccepted { accepted += 1 }
        }
        // Most mutations are decided by the scanner itself, not handed to the parser.
        #expect(decided > 600, "decided \(decided), accepted \(accepted)")
        #expect(accepted > 20, "accepted \(accepted)")
    }
}

extension WellFormednessTests.Reading {
    var isAccepted: Bool {
        if case .accepted = self { return true }
        return false
    }

    var isRefused: Bool {
        if case .refused = self { return true }
        return false
    }
}
