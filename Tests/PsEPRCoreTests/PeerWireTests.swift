import NIOCore
import PsEPRCore
import Testing

@Suite struct PeerWireTests {
    func framed(_ element: ByteBuffer, sequence: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        PeerWire.writeNumbered(element, sequence: sequence, into: &buffer)
        return buffer
    }

    func decode(_ buffer: ByteBuffer) throws -> (sequence: UInt64, message: PeerMessage) {
        try buffer.withUnsafeReadableBytes { try PeerWire.decode($0) }
    }

    @Test func controlMessagesRoundTripWithTheirSequenceNumbers() throws {
        let channel = try ChannelName("/a/b/")
        let messages: [PeerMessage] = [
            .hello(id: "7", host: "planetlab1.rutgers.edu", nonce: "00ff"),
            .auth(proof: "abc123"),
            .register(identifier: "peer:/a/b/|urn:x", channel: channel, namespace: "urn:x", seconds: 600),
            .register(identifier: "peer:/a/b/|", channel: channel, namespace: nil, seconds: 600),
            .unregister(identifier: "peer:/a/b/|"),
            .granted(identifier: "i<&>'\"", seconds: 600),
            .released(identifier: "i"),
            .refused(identifier: "i", reason: "too many leases"),
            .ping, .pong,
            .error(reason: "ID 9 is not in this server's peer list"),
        ]
        for (index, message) in messages.enumerated() {
            let decoded = try decode(framed(PeerWire.element(message), sequence: UInt64(index + 1)))
            #expect(decoded.sequence == UInt64(index + 1))
            #expect(decoded.message == message)
        }
    }

    @Test func eventsComeThroughTheQuickPathWithTheirElementForwardable() throws {
        let event = Event(
            channel: try ChannelName("/x/y/"),
            toService: "svc",
            fromService: "me",
            fromInstance: "host",
            payloadNamespace: "urn:x",
            payload: Array("<payload xmlns='urn:x'><v>1</v></payload>".utf8)
        )
        let stanza = framed(StanzaEncoder.messageBuffer(event, id: "m1"), sequence: 42)
        let decoded = try decode(stanza)
        #expect(decoded.sequence == 42)
        guard case .event(let received, let element?) = decoded.message else {
            Issue.record("expected an event with a forwardable element, got \(decoded.message)")
            return
        }
        #expect(received.channel == event.channel)
        #expect(received.toService == "svc")
        #expect(received.payload == event.payload)
        let bytes = Array(stanza.readableBytesView)[element]
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("<event xmlns='http://psepr.org/xs/event'>"))
        #expect(String(decoding: bytes, as: UTF8.self).hasSuffix("</event>"))
    }

    @Test func anEventInAnotherShapeTakesTheFullParser() throws {
        let text =
            "<peerMessage seq='3' ><message><!-- note --><event xmlns='http://psepr.org/xs/event'><to><channel>/q/</channel></to></event></message></peerMessage>"
        let decoded = try decode(ByteBuffer(string: text))
        #expect(decoded.sequence == 3)
        guard case .event(let event, nil) = decoded.message else {
            Issue.record("expected an event, got \(decoded.message)")
            return
        }
        #expect(event.channel.rawValue == "/q/")
    }

    @Test func malformedPeerMessagesAreErrors() {
        for text in [
            "<peerMessage><ping/></peerMessage>", "<peerMessage seq='x'><ping/></peerMessage>", "<other seq='1'/>",
            "<peerMessage seq='1'><ping/><pong/></peerMessage>", "<peerMessage seq='1'><dance/></peerMessage>",
            "<peerMessage seq='1'><lease op='register' identifier='i' channel='no-slash' seconds='5'/></peerMessage>",
            "<peerMessage seq='1'><lease op='register' identifier='i' channel='/a/' seconds='-5'/></peerMessage>",
        ] {
            #expect(throws: PsEPRError.self, "\(text)") { try decode(ByteBuffer(string: text)) }
        }
    }
}

@Suite struct PeerConfigurationTests {
    let file = """
        <leasePeer>
          <planetlab1.rutgers.edu>
            <ID>7</ID><authKey>k-7</authKey>
            <peer000><peer>planetlab2.cs.ubc.ca</peer><port>23341</port><ID>12</ID><authKey>k-12</authKey><connectionType>lease</connectionType></peer000>
            <peer001><peer>shared.host</peer><ID>13</ID><authKey>k-13</authKey></peer001>
            <peer002><peer>shared.host</peer><port>23342</port><ID>14</ID><authKey>k-14</authKey></peer002>
            <peer003><peer>planetlab1.rutgers.edu</peer><ID>7</ID><authKey>k-7</authKey></peer003>
            <peer004><peer>no.key</peer><ID>15</ID></peer004>
            <comment>not a peer</comment>
          </planetlab1.rutgers.edu>
          <planetlab2.cs.ubc.ca><ID>12</ID><authKey>k-12</authKey></planetlab2.cs.ubc.ca>
        </leasePeer>
        """

    @Test func aServerReadsItsOwnSectionOfThePersiteFile() throws {
        let configuration = try PeerConfiguration.persite(
            Array(file.utf8),
            hostname: "PlanetLab1.Rutgers.edu",
            defaultPort: 23341
        )
        #expect(configuration.ownID == "7")
        #expect(configuration.ownAuthKey == "k-7")
        #expect(configuration.refusal == nil)
        // Itself is skipped; a peer without a key is reported; two peers share one host on different ports.
        #expect(configuration.peers.map(\.id) == ["12", "13", "14"])
        #expect(configuration.peer(id: "13")?.port == 23341)
        #expect(configuration.peer(id: "14")?.host == "shared.host")
        #expect(configuration.peer(id: "14")?.port == 23342)
        #expect(configuration.peer(id: "12")?.connectionType == "lease")
        #expect(configuration.warnings.count == 2)
        #expect(configuration.warnings.contains { $0.contains("<peer004> lacks") })
        // Peers 13 and 14 have no section: the file is not the whole mesh, so no layout is inferred.
        #expect(configuration.warnings.contains { $0.contains("no section for peer ID 13, 14") })
        #expect(configuration.topology == nil)
    }

    @Test func aServerMissingFromTheFileRefusesPeerWork() throws {
        let configuration = try PeerConfiguration.persite(
            Array(file.utf8),
            hostname: "elsewhere.org",
            defaultPort: 23341
        )
        #expect(configuration.refusal != nil)
        #expect(configuration.peers.isEmpty)
    }

    @Test func theLowerIDDials() {
        #expect(PeerConfiguration.dials(ownID: "7", peerID: "12"))
        #expect(!PeerConfiguration.dials(ownID: "12", peerID: "7"))
        #expect(PeerConfiguration.dials(ownID: "alpha", peerID: "beta"))
    }

    @Test func peerListsFromTheConfigurationChannel() throws {
        let payload = """
            <payload xmlns='http://psepr.org/xs/lease/peer/servers'><LeasePeerConnections>
              <connection><peer>a.org</peer><port>1234</port><ID>2</ID><authKey>k2</authKey></connection>
              <Connection><PEER>b.org</PEER><id>3</id><AUTHKEY>k3</AUTHKEY></Connection>
            </LeasePeerConnections></payload>
            """
        let (peers, warnings) = try PeerConfiguration.channelPeers(Array(payload.utf8), defaultPort: 23341)
        #expect(
            peers == [
                PeerEntry(id: "2", authKey: "k2", host: "a.org", port: 1234),
                PeerEntry(id: "3", authKey: "k3", host: "b.org", port: 23341),
            ]
        )
        #expect(warnings.isEmpty)
    }

    @Test func nestedParameterXMLReadsBackAsTheSameParameters() throws {
        var parameters = ParameterSet()
        parameters.set("/PsEPRServer/client/XMPP/port", "23345")
        parameters.set("/PsEPRServer/client/XMPP/maximumConnections", "400")
        parameters.set("/PsEPRServer/debug/filterLevel", "0xB062")
        parameters.set("/PsEPRServer/identity/name", "a<b")
        let reread = try ParameterSet(xml: Array(parameters.nestedXML.utf8))
        #expect(reread.all.map(\.name) == parameters.all.map(\.name))
        #expect(reread.all.map(\.value) == parameters.all.map(\.value))
    }
}

@Suite struct DecimalWritingTests {
    @Test(arguments: [UInt64(0), 7, 42, 1_000_000, UInt64.max])
    func decimalsAreWrittenAsDescriptionWouldBe(_ value: UInt64) {
        var buffer = ByteBuffer()
        buffer.writeDecimal(value)
        #expect(String(buffer: buffer) == String(value))
    }
}
