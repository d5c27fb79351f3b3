import Foundation
import PsEPRCore
import PsEPRTesting
import Testing

/// A third opinion on the differential test's inputs: expat, the parser XMPP libraries build on.
/// Whatever the scanner or the full parser accepts, expat must accept; whatever expat refuses,
/// they must refuse. (They are stricter than expat in documented ways only: non-ASCII names and
/// DOCTYPEs are refused.)
@Suite struct ExpatOracleTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop").appendingPathComponent("expat_oracle.py").path

    static let valid: [String] = [
        Stork.event, Stork.lease,
        "<message id='m'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/b/</channel><service>s</service></to><from><service>f</service><instance>g</instance></from><payload xmlns='urn:x' k='v'><a b='&lt;&amp;&#x41;'>t &gt; u ]] &quot; caf\u{E9}</a><!-- c - d --><![CDATA[ & < ]]><?target body?><e f='g'/></payload></event></message>",
    ]

    @Test(.enabled(if: PoisonPayloadTests.pythonHasExpat, "python3 with xml.parsers.expat"))
    func expatAgreesWithTheScannerAndTheParser() async throws {
        var generator = SplitMix64(seed: 0xE8A7)
        let originals =
            Self.valid.map { Array($0.utf8) } + Poison.classes.map { stanza(payload: $0.payload) }
            + Poison.repeatedEnvelopes.map { Array($0.stanza.utf8) }
        var inputs = originals
        for _ in 0..<3000 {
            inputs.append(Poison.mutate(originals.randomElement(using: &generator)!, using: &generator))
        }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "psepr-oracle-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("stanzas.hex")
        let output = directory.appendingPathComponent("verdicts")
        try inputs.map { $0.map { String(format: "%02x", $0) }.joined() }.joined(separator: "\n").write(
            to: input,
            atomically: true,
            encoding: .utf8
        )
        let oracle = try ChildProcess(arguments: ["python3", Self.script, input.path, output.path])
        defer { oracle.stop() }
        #expect(try await oracle.exitStatus(seconds: 60) == 0, "\(oracle.text)")
        let verdicts = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { $0 == "1" }
        try #require(verdicts.count == inputs.count)

        var expatOnly = 0
        for (bytes, expat) in zip(inputs, verdicts) {
            let scanned = bytes.withUnsafeBytes { EventScanner.check($0) }
            let parsed = (try? ParsedElement.parse(bytes)) != nil
            if case .scanned = scanned {
                #expect(expat, "scanner accepted what expat refuses: \(String(decoding: bytes, as: UTF8.self))")
            }
            if parsed {
                #expect(expat, "parser accepted what expat refuses: \(String(decoding: bytes, as: UTF8.self))")
            }
            if expat && !parsed {
                // Only the documented differences: a non-ASCII name, a DOCTYPE (never read here).
                let explained =
                    bytes.contains { $0 >= 0x80 } || String(decoding: bytes, as: UTF8.self).contains("<!DOCTYPE")
                #expect(explained, "expat accepted what the parser refuses: \(String(decoding: bytes, as: UTF8.self))")
                expatOnly += 1
            }
        }
        #expect(verdicts.filter { $0 }.count > 50, "too few well-formed inputs to say much")
        _ = expatOnly
    }
}
