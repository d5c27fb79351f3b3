import PsEPRCore
import PsEPRTesting
import Testing

@Suite struct EventScannerTests {
    static func scan(_ text: String) -> EventScanner.Outcome {
        Array(text.utf8).withUnsafeBytes { EventScanner.scan($0) }
    }

    static let usual: [String] = [
        Stork.event,
        "<message id='e1'><event xmlns='http://psepr.org/xs/event'><to><channel>/org/example/a/</channel></to><from><service>svc</service><instance>h1</instance></from><payload xmlns='urn:x'><v a='1'>text</v><w/></payload></event></message>",
        "<message><event xmlns=\"http://psepr.org/xs/event\"><to><channel> /a/ </channel><service>s</service><instance>i</instance></to><from/><payload xmlns='urn:x'><![CDATA[<not markup>]]><!-- note --><?pi x?></payload></event></message>",
        "<jc:message xmlns:jc='jabber:client' id='p'><x seconds='60' xmlns='jabber:x:expire'/><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><payload xmlns='urn:y'/></event></jc:message>",
        "<message id='n'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><from><service>svc</service></from></event></message>",
    ]

    @Test(arguments: usual)
    func theUsualShapeGivesWhatTheFullParserGives(_ stanza: String) throws {
        guard case .event(let scanned) = Self.scan(stanza) else {
            Issue.record("not scanned: \(stanza)")
            return
        }
        #expect(scanned == (try Event(stanza: Array(stanza.utf8))))
    }

    static func element(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard let scanned = bytes.withUnsafeBytes({ EventScanner.scanMessage($0) }),
            let range = scanned.selfContainedElement
        else { return nil }
        return String(decoding: bytes[range], as: UTF8.self)
    }

    @Test func aSelfContainedEventElementIsFoundForForwarding() throws {
        let stork = try #require(Self.element(Stork.event))
        #expect(stork.hasPrefix("<event xmlns=\"http://psepr.org/xs/event\">") && stork.hasSuffix("</event>"))
        #expect(try Event(stanza: Array(stork.utf8)) == Event(stanza: Array(Stork.event.utf8)).withoutID)
        #expect(Self.element(Self.usual[3]) != nil)  // a prefixed <message>, an <x/> beside the event: fine
    }

    @Test(arguments: [
        "<message xmlns:e='http://psepr.org/xs/event'><e:event><e:to><e:channel>/a/</e:channel></e:to></e:event></message>",
        "<message><event><to><channel>/a/</channel></to></event></message>",
        "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><ext xmlns='urn:e'><p:q/></ext></event></message>",
        "<message><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel><instance>i</instance></to></event></message>",
        "<message><event xmlns='http://psepr.org/xs/event' p:a='1'><to><channel>/a/</channel></to></event></message>",
    ])
    func anElementThatLeansOnItsSurroundingsIsRewritten(_ stanza: String) {
        #expect(Self.element(stanza) == nil)
    }

    static let unusual: [String] = [
        // Entities, comments in the envelope, error messages, bad names: the full parser decides.
        "<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel><service>a&amp;b</service></to><payload xmlns='urn:x'/></event></message>",
        "<message id='e'><!-- c --><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to></event></message>",
        "<message type='error' id='e'><error/></message>",
        "<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>/a</channel></to></event></message>",
        "<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to></event></message><extra/>",
        "<iq type='get' id='x'/>",
        "<message id='e'/>",
        "<message id='e'><body>hi</body></message>",
    ]

    @Test(arguments: unusual)
    func anythingElseIsLeftToTheFullParser(_ stanza: String) {
        #expect(Self.scan(stanza) == .unusual)
    }

    @Test(arguments: [
        // Not well-formed: refused by the scanner itself, as the full parser refuses them.
        "<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</service></to></event></message>",
        "<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><payload xmlns='urn:x'><a></b></payload></event></message>",
    ])
    func mismatchedTagsAreRefused(_ stanza: String) {
        guard case .refused(let error) = Self.scan(stanza) else {
            Issue.record("not refused: \(stanza)")
            return
        }
        #expect(error.code == .malformedXML)
        #expect(throws: PsEPRError.self) { try Event(stanza: Array(stanza.utf8)) }
    }

    @Test func theSendersRecentChannelIsReusedOnlyWhenTheBytesSpellIt() throws {
        let recent = try ChannelName("/a/b/")
        for (channel, expected) in [(" /a/b/ ", "/a/b/"), ("/a/b/c/", "/a/b/c/"), ("/a/", "/a/"), ("/a/b", nil)] {
            let stanza = Array(
                "<message><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to></event></message>"
                    .utf8
            )
            let scanned = stanza.withUnsafeBytes { EventScanner.scanMessage($0, recentChannel: recent) }
            #expect(scanned?.event.channel.rawValue == expected, "\(channel)")
        }
    }
}

extension Event {
    /// The event as it reads without its carrying message's `id`.
    var withoutID: Event {
        var copy = self
        copy.id = nil
        return copy
    }
}
