import NIOCore
import PsEPRCore
import PsEPRTesting
import Testing

/// The framer's verdict on a stream must not depend on how its bytes are cut into reads.
@Suite("Framer: the same verdict however the input is split")
struct FramerSplitTests {
    /// Small bounds, so that inputs on either side of them stay short.
    static let limits = XMLStreamFramer.Limits(maximumStanzaBytes: 64, maximumDepth: 8, maximumAttributes: 4)
    static let header = "<?xml version='1.0'?><stream:stream xmlns:stream='urn:s'>"

    /// The frames, or the error code, from feeding `chunks` in turn.
    static func verdict(_ chunks: [[UInt8]], mode: XMLStreamFramer.Mode = .stream) -> String {
        do {
            return try frames(of: chunks, mode: mode, limits: limits).map { frame in
                switch frame {
                case .streamOpened(let attributes):
                    "open "
                        + attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                case .stanza(let buffer): "stanza " + String(buffer: buffer)
                case .streamClosed: "close"
                }
            }.joined(separator: "|")
        } catch let error as PsEPRError {
            return "error \(error.code)"
        } catch {
            return "error \(error)"
        }
    }

    static let streams: [(name: String, text: String)] = [
        (
            "a comment just within the bound between stanzas",
            header + "<a/><!--" + String(repeating: "c", count: 57) + "--><b/>"
        ),
        (
            "a comment over the bound between stanzas",
            header + "<a/><!--" + String(repeating: "c", count: 58) + "--><b/>"
        ),
        ("a long comment before the header", "<!--" + String(repeating: "c", count: 70) + "-->" + header + "<a/>"),
        ("a processing instruction over the bound", header + "<?pi " + String(repeating: "p", count: 70) + "?><a/>"),
        (
            "long keep-alive whitespace",
            header + String(repeating: " \n", count: 200) + "<a/>" + String(repeating: " ", count: 100) + "<b/>"
        ),
        ("a stanza just within the bound", header + "<a>" + String(repeating: "t", count: 57) + "</a><b/>"),
        ("a stanza over the bound", header + "<a>" + String(repeating: "t", count: 58) + "</a><b/>"),
        ("a stanza with a long comment inside", header + "<a><!--" + String(repeating: "c", count: 60) + "--></a>"),
        ("a bad comment between stanzas", header + "<a/><!-- x -- y --><b/>"),
        ("a NUL in a comment between stanzas", header + "<a/><!-- \u{0} --><b/>"),
        ("an XML declaration between stanzas", header + "<a/><?xml version='1.0'?><b/>"),
        ("a DOCTYPE", header + "<!DOCTYPE x><a/>"),
        ("a duplicate attribute in the header", "<stream:stream a='1' a='2'><a/>"),
        ("a poison payload is framed; its readers refuse it", header + "<a x='<'><b c/>&bogus;\u{1}</a><c/>"),
        ("too many attributes", header + "<a b='1' c='2' d='3' e='4' f='5'/>"),
        ("too deep", header + "<a><b><c><d><e><f><g><h>x</h></g></f></e></d></c></b></a>"),
        ("a restart", header + "<a/></stream:stream>" + header + "<b/></stream:stream>"),
    ]

    @Test(arguments: streams.indices)
    func everySplitInTwoGivesTheVerdictOfOneRead(_ index: Int) {
        let bytes = Array(Self.streams[index].text.utf8)
        let whole = Self.verdict([bytes])
        for cut in 0...bytes.count {
            #expect(
                Self.verdict([Array(bytes[..<cut]), Array(bytes[cut...])]) == whole,
                "\(Self.streams[index].name), cut at \(cut)"
            )
        }
        #expect(Self.verdict(bytes.map { [$0] }) == whole, "\(Self.streams[index].name), byte by byte")
    }

    @Test(arguments: streams.indices)
    func randomSplitsGiveTheVerdictOfOneRead(_ index: Int) {
        let bytes = Array(Self.streams[index].text.utf8)
        let whole = Self.verdict([bytes])
        var generator = SplitMix64(seed: UInt64(index) &+ 77)
        for _ in 0..<50 {
            var chunks: [[UInt8]] = []
            var rest = bytes[...]
            while !rest.isEmpty {
                let size = Int.random(in: 0...min(rest.count, 13), using: &generator)
                chunks.append(Array(rest.prefix(size)))
                rest = rest.dropFirst(size)
            }
            #expect(Self.verdict(chunks) == whole, "\(Self.streams[index].name)")
        }
    }

    @Test func theBoundsSayWhatTheyMean() {
        // One read: the expected verdicts (splitting is covered above).
        func verdict(_ name: String) -> String {
            Self.verdict([Array(Self.streams.first { $0.name == name }!.text.utf8)])
        }
        #expect(!verdict("a comment just within the bound between stanzas").hasPrefix("error"))
        #expect(verdict("a comment over the bound between stanzas") == "error stanzaTooLarge")
        #expect(verdict("a long comment before the header") == "error stanzaTooLarge")
        #expect(verdict("a processing instruction over the bound") == "error stanzaTooLarge")
        #expect(!verdict("long keep-alive whitespace").hasPrefix("error"))
        #expect(!verdict("a stanza just within the bound").hasPrefix("error"))
        #expect(verdict("a stanza over the bound") == "error stanzaTooLarge")
        #expect(verdict("a bad comment between stanzas") == "error malformedXML")
        #expect(verdict("a NUL in a comment between stanzas") == "error malformedXML")
        #expect(verdict("an XML declaration between stanzas") == "error malformedXML")
        #expect(verdict("a DOCTYPE") == "error declarationRefused")
        #expect(verdict("a duplicate attribute in the header") == "error malformedXML")
        #expect(verdict("a poison payload is framed; its readers refuse it").split(separator: "|").count == 3)
    }
}
