import NIOCore
import NIOTestUtils
import PsEPRTesting
import Testing

@testable import PsEPRCore

/// Feeds `chunks` to a framer the way a channel handler does, collecting every frame.
func frames(
    of chunks: [[UInt8]],
    mode: XMLStreamFramer.Mode = .stream,
    limits: XMLStreamFramer.Limits = .init()
) throws -> [StreamFrame] {
    var framer = XMLStreamFramer(mode: mode, limits: limits)
    var buffer = ByteBuffer()
    var output: [StreamFrame] = []
    for chunk in chunks {
        buffer.writeBytes(chunk)
        while let frame = try framer.decode(buffer: &buffer) { output.append(frame) }
    }
    while let frame = try framer.decodeLast(buffer: &buffer, seenEOF: true) { output.append(frame) }
    return output
}

func stanzaText(_ frame: StreamFrame) -> String? {
    guard case .stanza(let buffer) = frame else { return nil }
    return String(buffer: buffer)
}

@Suite("XML stream framing")
struct XMLStreamFramerTests {
    let session = Array(Stork.session.utf8)

    @Test func storkSessionFramesIntoItsStanzas() throws {
        let output = try frames(of: [session])
        #expect(output.count == 6)
        guard case .streamOpened(let attributes) = output.first else {
            Issue.record("no stream header")
            return
        }
        #expect(attributes["to"] == "planetlab1.rutgers.edu")
        #expect(attributes["xmlns:stream"] == "http://etherx.jabber.org/streams")
        #expect(output[1...4].compactMap(stanzaText) == [Stork.authGet, Stork.authSet, Stork.lease, Stork.event])
        #expect(output.last == .streamClosed)
    }

    @Test func byteByByteGivesTheSameFrames() throws {
        #expect(try frames(of: session.map { [$0] }) == frames(of: [session]))
    }

    @Test(arguments: 0..<20)
    func randomChunksGiveTheSameFrames(seed: Int) throws {
        var generator = SystemRandomNumberGenerator()
        var chunks: [[UInt8]] = []
        var rest = session[...]
        while !rest.isEmpty {
            let size = Int.random(in: 0...min(rest.count, 97), using: &generator)
            chunks.append(Array(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        #expect(try frames(of: chunks) == frames(of: [session]))
    }

    @Test func nioVerifierAgrees() throws {
        // The verifier feeds one transcript repeatedly into one decoder (whole, byte by byte, …),
        // so the transcript is a whole stream: after </stream:stream> the framer starts afresh.
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [
            (ByteBuffer(bytes: session), try frames(of: [session]))
        ]) {
            XMLStreamFramer()
        }
    }

    @Test func markupThatLooksLikeAnEndIsNot() throws {
        let tricky =
            "<message id='a>b'><!-- </message> --><event><![CDATA[</message> <x>]]>&lt;/message&gt;<?pi </message>?></event></message>"
        let output = try frames(of: [Array(("<stream:stream>" + tricky + "<message/>").utf8)])
        #expect(output.compactMap(stanzaText) == [tricky, "<message/>"])
    }

    @Test func keepAliveWhitespaceIsConsumed() throws {
        var framer = XMLStreamFramer()
        var buffer = ByteBuffer(string: "<stream:stream>")
        _ = try framer.decode(buffer: &buffer)
        for _ in 0..<1000 {
            buffer.writeString(" \n")
            #expect(try framer.decode(buffer: &buffer) == nil)
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test(arguments: [
        ("<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream>", PsEPRError.Code.declarationRefused),
        ("<stream:stream><!ENTITY a 'b'>", .declarationRefused),
        ("<stream:stream>hello<message/>", .malformedXML),
        ("<message/>", .malformedXML),
        ("<stream:stream></message>", .malformedXML),
        ("<stream:stream><a b='1' c='2' d='3' e='4' f='5'/>", .tooManyAttributes),
        ("<stream:stream><a><b><c><d><e><f><g><h>", .tooDeep),
        ("<stream:stream><message>" + String(repeating: "x", count: 5000), .stanzaTooLarge),
        ("<stream:stream><message><event>", .truncated),
    ])
    func badInputIsRefused(input: String, code: PsEPRError.Code) {
        let limits = XMLStreamFramer.Limits(maximumStanzaBytes: 4096, maximumDepth: 6, maximumAttributes: 4)
        do {
            _ = try frames(of: [Array(input.utf8)], limits: limits)
            Issue.record("\(input.prefix(40)) was accepted")
        } catch let error as PsEPRError {
            #expect(error.code == code, "\(input.prefix(40)): \(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func oneEventDocuments() throws {
        let document =
            "<inputEvent><authentication><passwordAuth><service>s</service><password>p</password></passwordAuth></authentication><oneEvent>"
            + Stork.event + "</oneEvent></inputEvent>"
        let output = try frames(of: Array(document.utf8).map { [$0] }, mode: .document)
        #expect(output.compactMap(stanzaText) == [document])
    }
}
