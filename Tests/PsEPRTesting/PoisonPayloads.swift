public import PsEPRCore

// Stanzas that used to pass the envelope scanner although a conforming XML parser refuses them.

/// A stanza around `payload`, the way a client would send it.
public func stanza(payload: [UInt8], id: String = "p1") -> [UInt8] {
    Array(
        "<message id='\(id)'><event xmlns='http://psepr.org/xs/event'><to><channel>/poison/</channel></to><from><service>pub</service><instance>p</instance></from>"
            .utf8
    )
        + payload + Array("</event></message>".utf8)
}

/// Payloads a conforming XML parser refuses: one for each way the scanner used to let through.
public enum Poison {
    public static func payload(_ inner: [UInt8]) -> [UInt8] {
        Array("<payload xmlns='urn:poison'>".utf8) + inner + Array("</payload>".utf8)
    }

    public static let classes: [(name: String, payload: [UInt8])] = [
        ("duplicate attribute", payload(Array("<v a='1' a='2'/>".utf8))),
        ("< in an attribute value", payload(Array("<v a='x<y'/>".utf8))),
        ("attribute without a value", payload(Array("<v a/>".utf8))),
        ("undefined entity", payload(Array("<v>&bogus;</v>".utf8))),
        ("reference to a control character", payload(Array("<v>&#1;</v>".utf8))),
        ("NUL", payload(Array("<v>a".utf8) + [0x00] + Array("b</v>".utf8))),
        ("C0 control character", payload(Array("<v>a".utf8) + [0x1B] + Array("b</v>".utf8))),
        ("invalid UTF-8", payload(Array("<v>a".utf8) + [0xC3, 0x28] + Array("b</v>".utf8))),
        ("UTF-8 surrogate", payload(Array("<v>a".utf8) + [0xED, 0xA0, 0x80] + Array("b</v>".utf8))),
    ]

    /// Envelopes that name two destinations or two senders.
    public static let repeatedEnvelopes: [(name: String, stanza: String)] = [
        (
            "two channels",
            "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel><channel>/b/</channel></to><payload xmlns='urn:x'/></event></message>"
        ),
        (
            "two <to>",
            "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><to><channel>/b/</channel></to></event></message>"
        ),
        (
            "two <from>",
            "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><from><service>s</service></from><from><service>t</service></from></event></message>"
        ),
        (
            "two <event>",
            "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to></event><event xmlns='http://psepr.org/xs/event'><to><channel>/b/</channel></to></event></message>"
        ),
        (
            "two services in <to>",
            "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel><service>s</service><service>t</service></to></event></message>"
        ),
        (
            "two instances in <from>",
            "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><from><service>s</service><instance>i</instance><instance>j</instance></from></event></message>"
        ),
        (
            "two payloads",
            "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><payload xmlns='urn:x'/><payload xmlns='urn:y'/></event></message>"
        ),
    ]

    /// Edits that break XML in the ways that matter: markup, references, quotes, bad bytes.
    public static let fragments: [[UInt8]] =
        [
            "<", ">", "&", ";", "'", "\"", "=", "/", "!", "-", "?", "]", " ", "#", "x", "a", ":",
            "<to>", "</to>", "<from>", "<channel>/b/</channel>", "<service>s</service>", "<event>", "</event>",
            "<payload>",
            "&amp;", "&lt;", "&#0;", "&#x41;", "&bogus;", "<!--", "--", "-->", "<![CDATA[", "]]>", "<?x ?>", "<?xml ?>",
            " a='1'", " a='2'", "<!DOCTYPE x>", "<v/>", "</v>", "\u{E9}",
        ].map { Array($0.utf8) } + [
            [0x00], [0x01], [0x1F], [0x80], [0xC3], [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xFF], [0x09], [0x0D],
        ]

    public static func mutate(_ bytes: [UInt8], using generator: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            let at = Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<5, using: &generator) {
            case 0 where at < bytes.count:
                bytes.remove(at: at)
            case 1 where at < bytes.count:
                bytes[at] = fragments.randomElement(using: &generator)!.first!
            case 2:
                let end = Int.random(in: at...min(bytes.count, at + 24), using: &generator)
                bytes.insert(contentsOf: bytes[at..<end], at: end)  // a repeated piece: often a repeated element
            default:
                bytes.insert(contentsOf: fragments.randomElement(using: &generator)!, at: at)
            }
        }
        return bytes
    }

}
