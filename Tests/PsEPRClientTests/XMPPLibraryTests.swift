import Foundation
import PsEPRServer
import PsEPRTestFixtures
import Testing

/// A standard XMPP library from PyPI (xmpppy) logs in by its non-SASL path, leases and
/// publishes through ordinary `<message>` stanzas. Runs wherever `python3` can import `xmpp`;
/// under CI (`CI=true`, where `.ci/run` installs xmpppy) it always runs.
@Suite struct XMPPLibraryTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop/xmpppy_client.py").path

    static var enabled: Bool {
        ProcessInfo.processInfo.environment["CI"] == "true" || (try? run(["-c", "import xmpp"]).status) == 0
    }

    @Test(.enabled(if: enabled, "python3 with xmpppy (pip install xmpppy)"))
    func xmpppyLogsInLeasesPublishesAndReceives() async throws {
        try await withEventServer { port, _, _ in
            let outcome = try await within(seconds: 60, "the xmpppy client") {
                try Self.run([Self.script, "127.0.0.1", "\(port)", "xmpppy_user", "secret"])
            }
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(outcome.output.hasPrefix("OK"), "\(outcome.output)")
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
