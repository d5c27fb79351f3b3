import Crypto
import Foundation
import Logging
import PsEPRCore
import PsEPRServer
import PsEPRTesting
import Testing

@Suite struct ServerSettingsTests {
    /// A fresh directory for one test's files.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "psepr-settings-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func theGuidesDefaultFileLoadsWithTheGuidesValues() throws {
        let settings = try ServerSettings(parameters: ParameterSet(xml: Array(ServerGuide.defaultConfiguration.utf8)))
        #expect(settings.server.maximumConnections == 400)
        #expect(settings.logFilter == LogCategory.serverDefault)
        #expect(settings.logFilter.rawValue == 0xB062)
        #expect(settings.server.peer.configurationCheckSeconds == 300)
        #expect(settings.server.peer.leaseSeconds == 600)
        #expect(settings.server.peer.configurationURL == "http://psepr.org/PsEPRServer/config/LeasePeer.xml")
        #expect(settings.server.clientPort == 23345)
        #expect(settings.server.oneEventPort == 23343)
        #expect(settings.server.peer.port == 23341)
        #expect(settings.logMaximumFiles == 10)
        #expect(settings.logMaximumFileBytes == 1 << 20)
        #expect(settings.server.accounts == nil)
    }

    @Test func withoutFilesEveryDefaultHolds() throws {
        let settings = try ServerSettings.load(searchPath: [])
        #expect(settings.sources.isEmpty)
        #expect(settings.server.peer.configurationURL == nil)
        #expect(settings.logDirectory == "/usr/local/psepr/logs/PsEPRServer")
        #expect(settings.effectiveParameters[ServerSettings.Key.filterLevel] == "0xB062")
        #expect(settings.effectiveParameters[ServerSettings.Key.maximumConnections] == "400")
    }

    @Test func searchPathFilesThenTheConfigFileOverrideEachOther() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let system = directory + "/system.xml"
        let user = directory + "/user.xml"
        let explicit = directory + "/explicit.xml"
        try
            "<PsEPRServer><client><XMPP><port>1000</port><maximumConnections>10</maximumConnections></XMPP></client></PsEPRServer>"
            .write(toFile: system, atomically: true, encoding: .utf8)
        try "<PsEPRServer><client><xmpp><PORT>2000</PORT></xmpp></client></PsEPRServer>".write(
            toFile: user,
            atomically: true,
            encoding: .utf8
        )
        try "<PsEPRServer><client><oneEvent><port>3000</port></oneEvent></client></PsEPRServer>".write(
            toFile: explicit,
            atomically: true,
            encoding: .utf8
        )
        let settings = try ServerSettings.load(
            searchPath: [system, directory + "/absent.xml", user],
            configurationFiles: [explicit]
        )
        #expect(settings.sources == [system, user, explicit])
        #expect(settings.server.clientPort == 2000)
        #expect(settings.server.maximumConnections == 10)
        #expect(settings.server.oneEventPort == 3000)
    }

    @Test func badValuesAndMissingFilesAreNamed() throws {
        let badPort = try ParameterSet(
            xml: Array("<PsEPRServer><client><XMPP><port>99999</port></XMPP></client></PsEPRServer>".utf8)
        )
        #expect(throws: ParameterError.self) { try ServerSettings(parameters: badPort) }
        let negative = try ParameterSet(
            xml: Array(
                "<PsEPRServer><client><XMPP><maximumConnections>-1</maximumConnections></XMPP></client></PsEPRServer>"
                    .utf8
            )
        )
        #expect(throws: ParameterError.self) { try ServerSettings(parameters: negative) }
        do {
            _ = try ServerSettings.load(searchPath: [], configurationFiles: ["/nonexistent/PsEPRServer.xml"])
            Issue.record("a missing --config file was accepted")
        } catch let error as SettingsError {
            #expect(error.message.contains("/nonexistent/PsEPRServer.xml"))
        }
    }

    @Test func anAccountFileTurnsOnPasswordChecks() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var table = AccountTable()
        table.set(service: "stork", password: "secret")
        try (table.line(for: "stork")! + "\n").write(toFile: directory + "/accounts", atomically: true, encoding: .utf8)
        let file = directory + "/PsEPRServer.xml"
        try "<PsEPRServer><service><accounting><file>\(directory)/accounts</file></accounting></service></PsEPRServer>"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let settings = try ServerSettings.load(searchPath: [file])
        #expect(settings.server.accounts?.verify(service: "stork", password: "secret") == true)
        #expect(settings.server.accounts?.verify(service: "stork", password: "wrong") == false)
    }

    @Test func misspelledParametersAndAWrongRootAreNamedOrRefused() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let misspelled = directory + "/PsEPRServer.xml"
        let wrongRoot = directory + "/other.xml"
        try
            "<PsEPRServer><client><XMPP><prot>2000</prot><maximumConnections>9</maximumConnections></XMPP></client><debug><comment>notes</comment></debug></PsEPRServer>"
            .write(toFile: misspelled, atomically: true, encoding: .utf8)
        try "<PsEPRSever><client><XMPP><port>3000</port></XMPP></client></PsEPRSever>".write(
            toFile: wrongRoot,
            atomically: true,
            encoding: .utf8
        )
        let settings = try ServerSettings.load(searchPath: [misspelled], configurationFiles: [wrongRoot])
        #expect(
            settings.warnings == [
                "\(misspelled): unknown parameter /PsEPRServer/client/XMPP/prot, ignored (did you mean /PsEPRServer/client/XMPP/port?)",
                "\(wrongRoot): the root element is <PsEPRSever>, not <PsEPRServer>, so none of its parameters apply",
            ]
        )
        #expect(settings.server.maximumConnections == 9)
        #expect(settings.server.clientPort == 23345)
        do {
            _ = try ServerSettings.load(searchPath: [misspelled], strict: true)
            Issue.record("--strict accepted a misspelled parameter")
        } catch let error as SettingsError {
            #expect(error.message.contains("/PsEPRServer/client/XMPP/prot"))
        }
        // The Server Guide's default file is clean.
        let guide = directory + "/guide.xml"
        try ServerGuide.defaultConfiguration.write(toFile: guide, atomically: true, encoding: .utf8)
        #expect(try ServerSettings.load(searchPath: [guide], strict: true).warnings.isEmpty)
    }

    @Test func tlsParametersComeInPairs() throws {
        let both = try ParameterSet(
            xml: Array(
                "<PsEPRServer><tls><certificateFile>/c.pem</certificateFile><keyFile>/k.pem</keyFile><required>yes</required></tls></PsEPRServer>"
                    .utf8
            )
        )
        #expect(
            try ServerSettings(parameters: both).server.tls
                == TLSSettings(certificateFile: "/c.pem", keyFile: "/k.pem", required: true)
        )
        let keyOnly = try ParameterSet(
            xml: Array("<PsEPRServer><tls><keyFile>/k.pem</keyFile></tls></PsEPRServer>".utf8)
        )
        #expect(throws: ParameterError.self) { try ServerSettings(parameters: keyOnly) }
        let requiredOnly = try ParameterSet(
            xml: Array("<PsEPRServer><tls><required>yes</required></tls></PsEPRServer>".utf8)
        )
        #expect(throws: ParameterError.self) { try ServerSettings(parameters: requiredOnly) }
    }
}

@Suite struct AccountTableTests {
    @Test func scryptLinesRoundTripAndOlderLinesStillWork() throws {
        let directory = try ServerSettingsTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var table = AccountTable()
        table.set(service: "stork", password: "secret")
        let line = try #require(table.line(for: "stork"))
        #expect(line.hasPrefix("stork $scrypt$ln=14,r=8,p=1$"))
        // An earlier version's salted SHA-256 line: salt 00 01, password "old".
        let legacyDigest = SHA256.hash(data: [0, 1] + Array("old".utf8)).map { String(format: "%02x", $0) }.joined()
        try "\(line)\nlegacy 0001 \(legacyDigest)\n".write(
            toFile: directory + "/accounts",
            atomically: true,
            encoding: .utf8
        )
        let read = try AccountTable(contentsOfFile: directory + "/accounts")
        #expect(read.check(service: "stork", password: "secret") == .accepted)
        #expect(read.check(service: "STORK", password: "wrong") == .wrongPassword)
        #expect(read.check(service: "legacy", password: "old") == .accepted)
        #expect(read.check(service: "nobody", password: "old") == .unknownAccount)
        try "stork $scrypt$ln=40,r=8,p=1$AAAA$AAAA\n".write(
            toFile: directory + "/bad",
            atomically: true,
            encoding: .utf8
        )
        #expect(throws: AccountFileError.self) { try AccountTable(contentsOfFile: directory + "/bad") }
    }

    @Test func expiredAccountsAreRefusedWithTheirReason() throws {
        let payload = """
            <payload><passwordAccounts><passwordCoding>none</passwordCoding>
            <account><name>old</name><password>pw</password><expiration>1000</expiration></account></passwordAccounts></payload>
            """
        let table = try #require(try AccountTable(accountingPayload: Array(payload.utf8)))
        #expect(table.check(service: "old", password: "pw", now: Date(timeIntervalSince1970: 999)) == .accepted)
        #expect(table.check(service: "old", password: "pw", now: Date(timeIntervalSince1970: 1001)) == .expired)
    }

    @Test func descriptionsAndDumpsShowNoSecrets() {
        var table = AccountTable()
        table.set(service: "stork", password: "secret", cost: .minimal)
        var configuration = EventServerConfiguration()
        configuration.accounts = table
        var dumped = ""
        dump(configuration, to: &dumped)
        let salt = String(table.line(for: "stork")!.split(separator: "$")[3])
        for text in [
            "\(configuration)", String(reflecting: configuration), dumped,
            "\(EventServer(configuration: configuration, logger: Logger(label: "t")))",
        ] {
            #expect(!text.contains(salt), "\(text)")
            #expect(!text.lowercased().contains("digest"), "\(text)")
        }
        #expect("\(table)" == "AccountTable(1 account)")
    }
}

@Suite struct LoggingTests {
    @Test func logFilesAreTheirOwnersOnly() throws {
        let directory = try ServerSettingsTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try RotatingLogFile(directory: directory, maximumFiles: 2, maximumFileBytes: 1024)
        for _ in 0..<20 { log.write(String(repeating: "x", count: 99) + "\n") }
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let permissions =
                try FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.posixPermissions] as? Int
            #expect(permissions == 0o600, "\(name)")
        }
    }

    @Test func theFilesRotateAndNeverExceedTheirBounds() throws {
        let directory = try ServerSettingsTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try RotatingLogFile(directory: directory, maximumFiles: 3, maximumFileBytes: 1024)
        let line = String(repeating: "x", count: 99) + "\n"
        for _ in 0..<100 { log.write(line) }  // 10 KB through a 3 × 1 KB window
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(files == ["PsEPRServer.log", "PsEPRServer.log.1", "PsEPRServer.log.2"])
        for name in files {
            let size = try FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int ?? 0
            #expect(size <= 1024 && size > 0)
        }
        #expect(log.failedWrites == 0)
    }

    @Test func categoriesOutsideTheFilterAreDroppedButErrorsAlwaysPass() throws {
        let directory = try ServerSettingsTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try RotatingLogFile(directory: directory)
        let logger = Logger(label: "test") {
            CategoryLogHandler(label: $0, filter: [.lease], file: file, echoToStandardError: false)
        }
        logger.log(.lease, .info, "lease line")
        logger.log(.io, .info, "io line")
        logger.log(.badError, .error, "bad line")
        logger.error("uncategorised error")
        logger.debug("uncategorised detail")
        let text = try String(contentsOfFile: file.path(0), encoding: .utf8)
        #expect(text.contains("LEASE info: lease line"))
        #expect(!text.contains("io line"))
        #expect(text.contains("BADERROR error: bad line"))
        #expect(text.contains("BADERROR error: uncategorised error"))
        #expect(!text.contains("uncategorised detail"))
    }

    @Test func aLogDirectoryThatCannotBeCreatedIsReported() {
        #expect(throws: (any Error).self) { try RotatingLogFile(directory: "/proc/psepr-cannot-exist/logs") }
    }
}
