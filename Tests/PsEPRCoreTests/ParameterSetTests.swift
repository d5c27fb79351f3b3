import PsEPRCore
import PsEPRTesting
import Testing

@Suite struct ParameterSetTests {
    @Test func theGuidesDefaultFileGivesItsParameters() throws {
        let parameters = try ParameterSet(xml: Array(ServerGuide.defaultConfiguration.utf8))
        #expect(parameters["/PsEPRServer/client/XMPP/maximumConnections"] == "400")
        #expect(try parameters.integer("/PsEPRServer/debug/filterLevel", default: 0) == 0xB062)
        #expect(try parameters.boolean("/PsEPRServer/service/statusReporter/service/include", default: false))
        #expect(try !parameters.boolean("/PsEPRServer/service/statusReporter/routeTable/include", default: true))
        // Comments are notes, not parameters.
        #expect(parameters["/PsEPRServer/debug/comment"] == nil)
        #expect(parameters.count == 10)
    }

    @Test func namesMatchWithoutRegardToCase() throws {
        let parameters = try ParameterSet(xml: Array(ServerGuide.defaultConfiguration.utf8))
        #expect(parameters["/PsEPRServer/peer/leasepeer/leaseSeconds"] == "600")
        #expect(parameters["/psepRSERVER/PEER/LEASEPEER/LEASESECONDS"] == "600")
    }

    @Test func laterFilesOverrideEarlierOnes() throws {
        var parameters = try ParameterSet(
            xml: Array(
                "<PsEPRServer><client><XMPP><port>1</port><maximumConnections>5</maximumConnections></XMPP></client></PsEPRServer>"
                    .utf8
            )
        )
        try parameters.merge(
            xml: Array(
                "<?xml version='1.0'?><!-- site --><psEPRserver><client><xmpp><port>2</port></xmpp></client></psEPRserver>"
                    .utf8
            )
        )
        #expect(parameters["/PsEPRServer/client/XMPP/port"] == "2")
        #expect(parameters["/PsEPRServer/client/XMPP/maximumConnections"] == "5")
    }

    @Test func numbersAreDecimalOrHexadecimalAndBadOnesAreNamed() throws {
        var parameters = ParameterSet()
        parameters.set("/a/hex", "0x1F")
        parameters.set("/a/hash", "#10")
        parameters.set("/a/negative", "-3")
        parameters.set("/a/bad", "twelve")
        #expect(try parameters.integer("/a/hex", default: 0) == 31)
        #expect(try parameters.integer("/a/hash", default: 0) == 16)
        #expect(try parameters.integer("/a/negative", default: 0) == -3)
        #expect(try parameters.integer("/a/missing", default: 7) == 7)
        #expect(
            throws: ParameterError(name: "/a/bad", value: "twelve", expected: "an integer (decimal or 0x hexadecimal)")
        ) {
            try parameters.integer("/a/bad", default: 0)
        }
    }

    @Test func aBrokenFileIsRefused() {
        #expect(throws: PsEPRError.self) { try ParameterSet(xml: Array("<PsEPRServer><client>".utf8)) }
        #expect(throws: PsEPRError.self) {
            try ParameterSet(xml: Array("<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>".utf8))
        }
    }
}
