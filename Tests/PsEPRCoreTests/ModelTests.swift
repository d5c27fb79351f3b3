import PsEPRTesting
import Testing

@testable import PsEPRCore

@Suite("Channel names, stanzas, events and leases")
struct ModelTests {
    @Test func channelGrammar() throws {
        for good in [
            "/", "/a/", "/org/psepr/server/leasepeer/servers/", "/example.com/services/cute_service/status/",
            "/a-b/c~d/e:f/g@h/",
        ] {
            #expect(try ChannelName(good).rawValue == good)
        }
        for bad in ["", "a/", "/a", "//", "/a//b/", "/a b/", "/a/ü/", "/<x>/"] {
            #expect(throws: PsEPRError.self, "\(bad)") { try ChannelName(bad) }
        }
        #expect(try ChannelName("/a/b/").segments == ["a", "b"])
        #expect(ChannelName.root.segments.isEmpty)
    }

    @Test func channelCoverage() throws {
        let lease = try ChannelName("/a/b/")
        #expect(lease.covers(try ChannelName("/a/b/")))
        #expect(lease.covers(try ChannelName("/a/b/c/")))
        #expect(!lease.covers(try ChannelName("/a/")))
        #expect(!lease.covers(try ChannelName("/a/bc/")))
        #expect(ChannelName.root.covers(lease))
    }

    @Test func elementParsingDecodesAndKeepsRanges() throws {
        let source = Array(
            "<m id='a&amp;b'>x&lt;y&#65;&#x42;<![CDATA[<raw>]]><p xmlns='urn:t'><v>1</v></p><!-- c --></m>".utf8
        )
        let element = try ParsedElement.parse(source)
        #expect(element.attributes["id"] == "a&b")
        #expect(element.text == "x<yAB<raw>")
        let payload = try #require(element.child("p"))
        #expect(String(decoding: source[payload.byteRange], as: UTF8.self) == "<p xmlns='urn:t'><v>1</v></p>")
        #expect(payload.childText("v") == "1")
    }

    @Test(arguments: [
        "<a>", "<a></b>", "<a>&bogus;</a>", "<a x='1' x='2'/>", "<a x=1/>", "<a/><b/>", "<a>&#0;</a>",
        "<a><!DOCTYPE x></a>",
    ])
    func elementParsingRefusesBadXML(text: String) {
        #expect(throws: PsEPRError.self) { try ParsedElement.parse(Array(text.utf8)) }
    }

    @Test func storkEventParses() throws {
        let event = try Event(stanza: Array(Stork.event.utf8))
        #expect(event.id == "id_4711")
        #expect(event.channel.rawValue == "/edu/arizona/stork2/psepr/")
        #expect(event.toService == "arizona5" && event.toInstance == "node7.example.edu")
        #expect(event.fromService == "arizona_stork2" && event.fromInstance == "planetlab3.cs.arizona.edu/list/nodes/")
        #expect(event.payloadNamespace == "http://psepr.org/xs/payload/attribute")
        #expect(
            String(decoding: event.payload, as: UTF8.self).hasPrefix(
                "<payload xmlns=\"http://psepr.org/xs/payload/attribute\">"
            )
        )
        #expect(try event.leaseOperation() == nil)
    }

    @Test func storkLeaseParses() throws {
        let event = try Event(stanza: Array(Stork.lease.utf8))
        #expect(event.toService == "psepr_router" && event.toInstance == nil)
        let lease = try #require(try event.leaseOperation())
        #expect(lease == LeaseOperation(operation: .register, identifier: "arizona_stork2-8812", duration: 1800))
    }

    @Test func leaseAliasesAndFilters() throws {
        func parse(_ body: String) throws -> LeaseOperation {
            try LeaseOperation(
                payload: ParsedElement.parse(
                    Array("<payload xmlns='\(LeaseOperation.namespace)'>\(body)</payload>".utf8)
                )
            )
        }
        #expect(try parse("<identifier>i</identifier><op>release</op>").operation == .unregister)
        #expect(try parse("<identifier>i</identifier><op>renew</op>").operation == .register)
        #expect(try parse("<identifier>i</identifier><op>granted</op><duration>30</duration>").duration == 30)
        #expect(try parse("<identifier>i</identifier><op>register</op><type>urn:x</type>").namespaceFilter == "urn:x")
        #expect(
            try parse("<identifier>i</identifier><op>register</op><namespace>urn:y</namespace>").namespaceFilter
                == "urn:y"
        )
        #expect(try parse("<identifier>i</identifier><op>register</op><type>ANY</type>").namespaceFilter == nil)
        #expect(throws: PsEPRError.self) { try parse("<op>register</op>") }
        #expect(throws: PsEPRError.self) { try parse("<identifier>i</identifier><op>explode</op>") }
        #expect(throws: PsEPRError.self) {
            try parse("<identifier>i</identifier><op>register</op><duration>-5</duration>")
        }
        let grant = LeaseOperation(operation: .lease, identifier: "a<b", duration: 600, namespaceFilter: "urn:&")
        #expect(try LeaseOperation(payload: ParsedElement.parse(grant.payloadBytes)) == grant)
    }

    @Test func encodedMessagesRoundTrip() throws {
        let original = try Event(stanza: Array(Stork.event.utf8))
        var awkward = original
        awkward.fromInstance = "host'<&>\"x"
        for event in [original, awkward] {
            let encoded = StanzaEncoder.message(event, id: "d1")
            var decoded = try Event(stanza: encoded)
            #expect(decoded.id == "d1")
            decoded.id = event.id
            #expect(decoded == event)
        }
    }

    @Test func serverStanzasAreWellFormed() throws {
        for stanza in [
            StanzaEncoder.authenticationFields(id: "l'1", username: "svc<"),
            StanzaEncoder.authenticationSucceeded(id: "2"),
            StanzaEncoder.authenticationFailed(id: "3"),
            StanzaEncoder.messageError(id: "m&", condition: "bad-request", text: "no <channel>"),
        ] {
            _ = try ParsedElement.parse(stanza)
        }
        let header = String(decoding: StanzaEncoder.streamHeader(serverName: "srv", streamID: "Zx81"), as: UTF8.self)
        let framed = try frames(of: [Array((header + "</stream:stream>").utf8)])
        #expect(
            framed.first
                == .streamOpened(attributes: [
                    "xmlns": "jabber:client", "xmlns:stream": "http://etherx.jabber.org/streams", "from": "srv",
                    "id": "Zx81", "version": "1.0",
                ])
        )
        #expect(framed.count == 3)
    }
}

@Suite struct XMLWriterTests {
    @Test func textAndAttributeValuesAreEscapedAndNilAttributesLeftOut() {
        var xml = XMLWriter()
        xml.element("a", ["x": "1 < 2 & 'q'", "skipped": nil, "y": "\"z\""]) {
            $0.text("<b>&</b>")
            $0.empty("c")
            $0.element("d", text: "it's")
        }
        #expect(
            xml.string
                == "<a x='1 &lt; 2 &amp; &apos;q&apos;' y='&quot;z&quot;'>&lt;b&gt;&amp;&lt;/b&gt;<c/><d>it&apos;s</d></a>"
        )
    }

    @Test func doubleQuotesForTheStorkClientsHeader() {
        var xml = XMLWriter(quote: .double)
        xml.start("stream:stream", ["to": "h\"x"])
        #expect(xml.string == "<stream:stream to=\"h&quot;x\">")
    }

    @Test func whatTheWriterWritesParsesBackToTheSameText() throws {
        var xml = XMLWriter()
        let awkward = "a<b>&c\"d'e]]>f"
        xml.element("root", ["v": awkward]) { $0.element("t", text: awkward) }
        let parsed = try ParsedElement.parse(xml.bytes)
        #expect(parsed.attributes["v"] == awkward)
        #expect(parsed.childText("t") == awkward)
    }
}
