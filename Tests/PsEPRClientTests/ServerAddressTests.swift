import PsEPRClient
import PsEPRCore
import Testing

@Suite struct ServerAddressTests {
    @Test func addressesParseWithAndWithoutPorts() throws {
        #expect(
            try ServerAddress(parsing: "planetlab1.rutgers.edu")
                == ServerAddress(host: "planetlab1.rutgers.edu", port: 23345)
        )
        #expect(try ServerAddress(parsing: "127.0.0.1:4000") == ServerAddress(host: "127.0.0.1", port: 4000))
        #expect(try ServerAddress(parsing: "[::1]:4000") == ServerAddress(host: "::1", port: 4000))
        #expect(try ServerAddress(parsing: "host", defaultPort: 23343).port == 23343)
        #expect(throws: ServerListError.self) { try ServerAddress(parsing: "host:0") }
        #expect(throws: ServerListError.self) { try ServerAddress(parsing: ":23345") }
    }

    @Test func aJClientServerListGivesEveryEntry() throws {
        let xml = """
            <jClient>
              <servers>
                <server001><server>planetlab1.rutgers.edu</server><port>23345</port></server001>
                <server002><server>planetlab2.cs.ubc.ca</server><port>23346</port></server002>
              </servers>
            </jClient>
            """
        #expect(
            try ServerAddress.list(fromXML: Array(xml.utf8)) == [
                ServerAddress(host: "planetlab1.rutgers.edu", port: 23345),
                ServerAddress(host: "planetlab2.cs.ubc.ca", port: 23346),
            ]
        )
        #expect(throws: ServerListError.self) {
            try ServerAddress.list(fromXML: Array("<jClient><servers/></jClient>".utf8))
        }
        #expect(throws: ServerListError.self) {
            try ServerAddress.list(fromXML: Array("<a><b><server>x</server><port>abc</port></b></a>".utf8))
        }
    }

    @Test func aDiscoveryPayloadGivesTheConnectionsOfTheTypeAsked() throws {
        // The Server Guide's example shape (§5.3), two servers' worth.
        let xml = """
            <payload xmlns="http://dsmt.org/schema/psepr/payload/PsEPRServer/discovery-1.0">
              <connections>
                <hostname>a.example</hostname><instance>a</instance><serverVersion>1</serverVersion>
                <connection><type>XMPP</type><hostname>a.example</hostname><port>23345</port><class>X</class></connection>
                <connection><type>OneEvent</type><hostname>a.example</hostname><port>23343</port><class>Y</class></connection>
                <connection><type>xmpp</type><hostname>b.example</hostname><port>4000</port><class>X</class></connection>
              </connections>
            </payload>
            """
        #expect(
            try ServerAddress.list(fromXML: Array(xml.utf8)) == [
                ServerAddress(host: "a.example", port: 23345), ServerAddress(host: "b.example", port: 4000),
            ]
        )
        #expect(
            try ServerAddress.list(fromXML: Array(xml.utf8), connectionType: "OneEvent") == [
                ServerAddress(host: "a.example", port: 23343)
            ]
        )
        #expect(throws: ServerListError.self) {
            try ServerAddress.list(fromXML: Array(xml.utf8), connectionType: "LeasePeer")
        }
    }

    @Test func attributePayloadsRoundTripWithEscaping() throws {
        let attribute = AttributePayload(field: "resolv.conf", value: "nameserver <10.0.0.1> & more", expireSeconds: 90)
        #expect(try AttributePayload(payload: attribute.payloadBytes) == attribute)
        let event = Event(channel: try ChannelName("/a/"), attribute: attribute)
        #expect(event.payloadNamespace == AttributePayload.namespace)
    }
}
