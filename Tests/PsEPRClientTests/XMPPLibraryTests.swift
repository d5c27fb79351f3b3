import Foundation
import PsEPRServer
import PsEPRTesting
import Testing

/// Standard XMPP libraries from PyPI, unchanged, log in, fetch their roster, lease and publish
/// through ordinary `<message>` stanzas: xmpppy by its non-SASL path and by SASL, slixmpp by
/// SASL PLAIN, the stream restart, binding and the session. Each runs wherever `python3` can
/// import the library; under CI (`CI=true`, where `.ci/run` installs both) always.
@Suite struct XMPPLibraryTests {
    static let interop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop")
    static let xmpppyScript = interop.appendingPathComponent("xmpppy_client.py").path
    static let slixmppScript = interop.appendingPathComponent("slixmpp_client.py").path

    static func available(_ module: String) -> Bool {
        ProcessInfo.processInfo.environment["CI"] == "true" || (try? run(["-c", "import \(module)"]).status) == 0
    }

    static var accounts: AccountTable {
        var table = AccountTable()
        table.set(service: "xmpppy_user", password: "secret")
        table.set(service: "slixmpp_user", password: "s3cret")
        return table
    }

    @Test(.enabled(if: available("xmpp"), "python3 with xmpppy (pip install xmpppy)"), arguments: ["legacy", "sasl"])
    func xmpppyLogsInGetsItsRosterLeasesPublishesAndReceives(login: String) async throws {
        try await withEventServer(configure: { $0.accounts = Self.accounts }) { port, _, _ in
            let outcome = try await ChildProcess.run(
                ["python3", Self.xmpppyScript, "127.0.0.1", "\(port)", "xmpppy_user", "secret", login],
                seconds: 60
            )
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(outcome.output.hasPrefix("OK"), "\(outcome.output)")
        }
    }

    @Test(.enabled(if: available("slixmpp"), "python3 with slixmpp (pip install slixmpp)"))
    func slixmppLogsInWithSASLBindsLeasesPublishesAndReceives() async throws {
        try await withEventServer(configure: { $0.accounts = Self.accounts }) { port, _, _ in
            let outcome = try await ChildProcess.run(
                ["python3", Self.slixmppScript, "127.0.0.1", "\(port)", "test.psepr", "slixmpp_user", "s3cret"],
                seconds: 60
            )
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(outcome.output.hasPrefix("OK logged in as slixmpp_user@test.psepr/slixmpp"), "\(outcome.output)")
        }
    }

    @Test(.enabled(if: available("slixmpp"), "python3 with slixmpp (pip install slixmpp)"))
    func slixmppWithAWrongPasswordIsRefused() async throws {
        try await withEventServer(configure: { $0.accounts = Self.accounts }) { port, _, _ in
            let outcome = try await ChildProcess.run(
                ["python3", Self.slixmppScript, "127.0.0.1", "\(port)", "test.psepr", "slixmpp_user", "wrong"],
                seconds: 60
            )
            #expect(outcome.status == 1, "\(outcome.output)")
            #expect(outcome.output.contains("FAIL the server refused the login"), "\(outcome.output)")
        }
    }

    /// Runs python3 with `arguments`, returning its exit status and output.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
