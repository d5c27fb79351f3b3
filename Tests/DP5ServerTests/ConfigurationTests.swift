import DP5Core
import Foundation
import Testing

@testable import DP5Client
@testable import DP5Server

@Suite("Configuration files")
struct ConfigurationTests {
    /// `regserver.cfg` exactly as the seed prints it, comments and all.
    static let seedRegistrationServer = SeedFilesTests.regserver

    /// `lookupserver.cfg` as the seed prints it, with the README tip's thread pool added.
    static let seedLookupServer = SeedFilesTests.lookupserver.replacingOccurrences(
        of: "\"server.ssl_private_key\": \"testcerts/server.key\"",
        with: "\"server.ssl_private_key\": \"testcerts/server.key\", \"server.thread_pool\": 100"
    )

    static let seedClient = SeedFilesTests.servers

    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dp5-config-\(UUID().uuidString).cfg")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func seedRegistrationServerConfigLoads() throws {
        let configuration = try ServerConfiguration(contentsOfFile: write(Self.seedRegistrationServer))
        #expect(configuration.host == "0.0.0.0" && configuration.port == 8443)
        #expect(configuration.tls?.certificatePath == "testcerts/server.crt")
        #expect(configuration.tls?.privateKeyPath == "testcerts/server.key")
        #expect(configuration.isRegistrationServer && !configuration.isLookupServer)
        #expect(configuration.registrationDirectory == "regdir" && configuration.dataDirectory == "datadir")
        #expect(configuration.protocolConfiguration == .default)
        #expect(!configuration.allowDebugFastForward)
    }

    @Test func seedLookupServerConfigLoads() throws {
        let configuration = try ServerConfiguration(contentsOfFile: write(Self.seedLookupServer))
        #expect(configuration.isLookupServer && !configuration.isRegistrationServer)
        #expect(configuration.registrationServer == "https://localhost:8443")
        #expect(configuration.dataDirectory == "lookupdatadir/")
    }

    @Test func seedClientConfigLoads() throws {
        let configuration = try ClientConfiguration(contentsOfFile: write(Self.seedClient))
        #expect(configuration.registrationServer == "https://localhost:8443")
        #expect(configuration.lookupServers == ["https://localhost:8444", "https://localhost:8445"])
        #expect(configuration.lookupParameters.privacyLevel == 1)
        #expect(configuration.trust.verifyCertificates)
    }

    @Test func laterKeysAndDefaults() throws {
        let configuration = try ServerConfiguration(
            contentsOfFile: write(
                """
                { "isRegServer": true, "isLookupServer": true, "epochLength": 60, "dataEncSize": 80, "combined": false,
                  "allowDebugFastForward": true, "maxRequestBytes": 65536 // a comment at the end of a line
                }
                """
            )
        )
        #expect(configuration.tls == nil)
        #expect(configuration.protocolConfiguration == (try DP5Configuration(epochLength: 60, dataEncSize: 80)))
        #expect(configuration.allowDebugFastForward && configuration.maxRequestBytes == 65536)
        #expect(configuration.port == 8443 && configuration.host == "127.0.0.1")
    }

    @Test(arguments: [
        (#"{"isRegServer": true, "regdirr": "x"}"#, "regdirr"),
        (#"{"isRegServer": "yes"}"#, "isRegServer"),
        (#"{"isRegServer": true, "server": {"server.socket_port": "8443"}}"#, "server.server.socket_port"),
        (#"{"isRegServer": true, "server": {"server.socket_port": 70000}}"#, "server.server.socket_port"),
        (#"{"isRegServer": true, "server": {"server.bogus": 1}}"#, "server.server.bogus"),
        (#"{"isRegServer": true, "combined": "yes"}"#, "combined"),
        (#"{"isRegServer": true, "dataEncSize": 8}"#, "dataEncSize"),
        (#"{"isLookupServer": true}"#, "regServer"),
        (#"{"isRegServer": false}"#, "isRegServer"),
        (#"{"isRegServer": true, "server": {"server.ssl_certificate": "a.crt"}}"#, "server.ssl_private_key"),
    ])
    func brokenServerConfigNamesTheKey(text: String, key: String) throws {
        let path = try write(text)
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(contentsOfFile: path) }
        do {
            _ = try ServerConfiguration(contentsOfFile: path)
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test(arguments: [
        (#"{"regServer": "a:1", "lookupServers": ["b:1", "c:1"], "privacyLevel": 2}"#, "privacyLevel"),
        (#"{"regServer": "a:1", "lookupServers": []}"#, "lookupServers"),
        (#"{"lookupServers": ["b:1", "c:1"]}"#, "regServer"),
        (#"{"regServer": "a:1", "lookupServers": ["b:1", 3]}"#, "lookupServers"),
        (#"{"regServer": "a:1", "lookupServers": ["b:1", "c:1"], "verifyCertificates": 0}"#, "verifyCertificates"),
    ])
    func brokenClientConfigNamesTheKey(text: String, key: String) throws {
        do {
            _ = try ClientConfiguration(contentsOfFile: write(text))
            Issue.record("expected an error naming \(key)")
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test func notJSONIsAClearError() throws {
        let path = try write("{ \"isRegServer\": true, ")
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(contentsOfFile: path) }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(contentsOfFile: "/nonexistent/dp5.cfg") }
    }

    @Test func brokenJSONSaysWhere() throws {
        let path = try write("{\n  \"isRegServer\": true, /* a comment */\n  \"regdir\": \"x\" \"datadir\": \"y\"\n}")
        do {
            _ = try ServerConfiguration(contentsOfFile: path)
            Issue.record("broken JSON was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("line 3"), "\(error)")
            #expect(error.description.contains("column"), "\(error)")
        }
    }

    @Test func commentsInsideStringsAreKept() {
        #expect(
            ConfigurationObject.removingComments(from: #"{"a": "x/*y*/z // w"} // gone"#) == #"{"a": "x/*y*/z // w"} "#
        )
        #expect(ConfigurationObject.removingComments(from: "/* a\nb */1") == "  \n  1")
    }
}
