import NIOCore
import PsEPRCore
import PsEPRTestFixtures
import Testing

/// The one-pass read of an event at the front of unframed input must take exactly what the
/// framer would frame and give exactly what the scanner gives for that stanza, or take nothing.
@Suite("Framing and scanning in one pass")
struct LeadingScanTests {
    static let header = Array("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".utf8)

    /// What the framer makes of `input` after a stream header: the first stanza's bytes, or the
    /// error it throws before finishing one (nil: it needs more bytes).
    static func framed(_ input: [UInt8], limits: XMLStreamFramer.Limits = .init()) -> Result<[UInt8], PsEPRError>? {
        var framer = XMLStreamFramer(mode: .stream, limits: limits)
        var buffer = ByteBuffer(bytes: header + input)
        do {
            while let frame = try framer.decode(buffer: &buffer) {
                if case .stanza(let stanza) = frame { return .success(Array(stanza.readableBytesView)) }
            }
            return nil
        } catch {
            return .failure(error as? PsEPRError ?? PsEPRError(.malformedXML, "?"))
        }
    }

    static func leading(_ input: [UInt8], limits: XMLStreamFramer.Limits = .init()) -> (scanned: EventScanner.Scanned, length: Int)? {
        input.withUnsafeBytes { EventScanner.scanLeadingMessage($0, limits: limits, recentChannel: nil, copyPayload: true) }
    }

    /// Checks one input: whatever the one-pass read takes is the framer's first stanza, and the
    /// scanner's verdict on that stanza alone is the same event with the same ranges.
    @discardableResult
    static func expectAgreement(_ input: [UInt8], limits: XMLStreamFramer.Limits = .init(), sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard let (scanned, length) = leading(input, limits: limits) else { return false }
        let stanza = Array(input[..<length])
        #expect(framed(input, limits: limits) == .success(stanza), "framer disagrees on \(String(decoding: input, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(stanza.withUnsafeBytes { EventScanner.check($0) } == .scanned(scanned), sourceLocation: sourceLocation)
        return true
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
        var generator = SeededGenerator(state: 0x1EAD_0000 + seed)
        let originals = WellFormednessTests.valid.map { Array($0.utf8) } + Poison.classes.map { stanza(payload: $0.payload) }
        var taken = 0
        for _ in 0..<1000 {
            let original = originals.randomElement(using: &generator)!
            let follower = Self.followers.randomElement(using: &generator)!
            if Self.expectAgreement(Poison.mutate(original, using: &generator) + follower) { taken += 1 }
        }
        #expect(taken > 20, "taken \(taken)")
    }

    /// A stanza past one of the framer's configured bounds is never taken: the framer refuses it.
    @Test func theFramersLimitsAreKept() {
        let event = "<message id='a'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><payload xmlns='urn:x'>"
        let deep = Array((event + "<a><b><c><d/></c></b></a></payload></event></message>").utf8)
        let attributes = Array((event + "<a p='1' q='2' r='3'/></payload></event></message>").utf8)
        #expect(Self.leading(deep) != nil && Self.leading(attributes) != nil)
        // The payload's innermost element is at depth 8 counting the stream root.
        for (bytes, limits) in [
            (deep, XMLStreamFramer.Limits(maximumDepth: 7)), (attributes, XMLStreamFramer.Limits(maximumAttributes: 2)),
            (deep, XMLStreamFramer.Limits(maximumStanzaBytes: deep.count - 1)),
        ] {
            #expect(Self.leading(bytes, limits: limits) == nil)
            guard case .failure = Self.framed(bytes, limits: limits) else {
                Issue.record("the framer accepted what it should refuse")
                continue
            }
        }
        #expect(Self.expectAgreement(deep, limits: XMLStreamFramer.Limits(maximumDepth: 8)))
        #expect(Self.expectAgreement(attributes, limits: XMLStreamFramer.Limits(maximumAttributes: 3)))
        #expect(Self.expectAgreement(deep, limits: XMLStreamFramer.Limits(maximumStanzaBytes: deep.count)))
    }
}
