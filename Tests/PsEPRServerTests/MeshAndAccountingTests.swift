import Crypto
import Foundation
import PsEPRCore
import Testing

@testable import PsEPRServer

@Suite struct MeshFilesTests {
    @Test func activeServersBecomeAFullMeshEachServerCanRead() throws {
        let servers = try MeshFiles.activeServers(
            """
            # active servers
            planetlab1.rutgers.edu
            planetlab2.cs.ubc.ca peer=10.0.0.2:24000 client=10.0.0.2:24001

            shared-a peer=shared.host:23341
            shared-b peer=shared.host:23342   # same address, another port
            """
        )
        #expect(servers.map(\.id) == ["1", "2", "3", "4"])
        #expect(Set(servers.map(\.authKey)).count == 4)
        let file = MeshFiles.leasePeerXML(servers)
        for server in servers {
            let configuration = try PeerConfiguration.persite(
                Array(file.utf8),
                hostname: server.name,
                defaultPort: 23341
            )
            #expect(configuration.ownID == server.id)
            #expect(configuration.ownAuthKey == server.authKey)
            #expect(configuration.peers.map(\.id) == servers.filter { $0.id != server.id }.map(\.id))
            #expect(configuration.warnings.isEmpty)
        }
        let view = try PeerConfiguration.persite(Array(file.utf8), hostname: "shared-a", defaultPort: 23341)
        #expect(view.peer(id: "4").map { "\($0.host):\($0.port)" } == "shared.host:23342")
        #expect(view.peer(id: "2").map { "\($0.host):\($0.port)" } == "10.0.0.2:24000")
        let clients = try ServerAddressList.parse(MeshFiles.jClientXML(servers))
        #expect(clients == ["planetlab1.rutgers.edu:23345", "10.0.0.2:24001", "shared-a:23345", "shared-b:23345"])
    }

    @Test func badActiveServerLinesAreNamed() {
        #expect(throws: SettingsError.self) { try MeshFiles.activeServers("1.2.3.4") }
        #expect(throws: SettingsError.self) { try MeshFiles.activeServers("a\na") }
        #expect(throws: SettingsError.self) { try MeshFiles.activeServers("a peer=nohost") }
        #expect(throws: SettingsError.self) { try MeshFiles.activeServers("a colour=blue:1") }
    }

    @Test func handshakeProofsDependOnKeyIDsAndNonces() {
        let proof = PeerHandshake.proof(
            authKey: "k",
            senderID: "1",
            receiverID: "2",
            receiverNonce: "n2",
            senderNonce: "n1"
        )
        #expect(proof.count == 64)
        #expect(
            proof
                == PeerHandshake.proof(
                    authKey: "k",
                    senderID: "1",
                    receiverID: "2",
                    receiverNonce: "n2",
                    senderNonce: "n1"
                )
        )
        #expect(
            proof
                != PeerHandshake.proof(
                    authKey: "k'",
                    senderID: "1",
                    receiverID: "2",
                    receiverNonce: "n2",
                    senderNonce: "n1"
                )
        )
        #expect(
            proof
                != PeerHandshake.proof(
                    authKey: "k",
                    senderID: "2",
                    receiverID: "1",
                    receiverNonce: "n2",
                    senderNonce: "n1"
                )
        )
        #expect(
            proof
                != PeerHandshake.proof(
                    authKey: "k",
                    senderID: "1",
                    receiverID: "2",
                    receiverNonce: "n3",
                    senderNonce: "n1"
                )
        )
    }
}

/// The `<server>`/`<port>` pairs of a jClient.xml, as text.
enum ServerAddressList {
    static func parse(_ xml: String) throws -> [String] {
        let root = try ParsedElement.parse(Array(xml.utf8))
        return root.children.flatMap(\.children).compactMap { entry in
            guard let server = entry.childText("server"), let port = entry.childText("port") else { return nil }
            return "\(server):\(port)"
        }
    }
}

@Suite struct AccountingPayloadTests {
    static func md5(_ text: String) -> String {
        Insecure.MD5.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    @Test func tablesCheckPasswordsForRealWithCodingSeedAnyAndExpiry() throws {
        let payload = """
            <payload xmlns='http://dsmt.org/schema/psepr/payload/PsEPRServer/accounting-1.0'><passwordAccounts>
              <passwordCoding>MD5</passwordCoding><passwordSeed>s33d</passwordSeed>
              <account><name>Stork</name><password>\(Self.md5("s33dright"))</password><expiration>0x7fffffff</expiration></account>
              <account><name>open</name><password>ANY</password></account>
              <account><name>old</name><password>\(Self.md5("s33dpw"))</password><expiration>1000000000</expiration></account>
            </passwordAccounts></payload>
            """
        let table = try #require(try AccountTable(accountingPayload: Array(payload.utf8)))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(table.verify(service: "stork", password: "right", now: now))
        #expect(!table.verify(service: "stork", password: "wrong", now: now))
        #expect(table.verify(service: "open", password: "anything", now: now))
        #expect(!table.verify(service: "old", password: "pw", now: now))
        #expect(table.verify(service: "old", password: "pw", now: Date(timeIntervalSince1970: 999_999_999)))
        #expect(!table.verify(service: "nobody", password: "right", now: now))
    }

    @Test func plainTextTablesAndTicketsAndErrors() throws {
        let plain =
            "<payload><passwordAccounts><account><name>a</name><password>pw</password></account></passwordAccounts></payload>"
        let table = try #require(try AccountTable(accountingPayload: Array(plain.utf8)))
        #expect(table.verify(service: "a", password: "pw"))
        #expect(
            try AccountTable(accountingPayload: Array("<payload><passwordTicket>t</passwordTicket></payload>".utf8))
                == nil
        )
        #expect(throws: AccountFileError.self) {
            try AccountTable(
                accountingPayload: Array(
                    "<payload><passwordAccounts><passwordCoding>ROT13</passwordCoding><account><name>a</name><password>x</password></account></passwordAccounts></payload>"
                        .utf8
                )
            )
        }
        #expect(throws: AccountFileError.self) {
            try AccountTable(
                accountingPayload: Array(
                    "<payload><passwordAccounts><passwordCoding>MD5</passwordCoding><account><name>a</name><password>nothex</password></account></passwordAccounts></payload>"
                        .utf8
                )
            )
        }
    }
}
