import Foundation
import PsEPRClient
import PsEPRCore
import PsEPRServer
import Testing

/// Debian's chromium, if installed (CI installs it; elsewhere the test says it skipped).
func chromiumPath() -> String? {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
}

@Suite("The status page in a real browser")
struct StatusPageTests {
    @Test func headlessChromiumRendersTheServersNumbers() async throws {
        guard let chromium = chromiumPath() else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("chromium is not installed; .ci/run installs it")
            } else {
                print("SKIPPED: the status page test needs chromium (apt-get install chromium)")
            }
            return
        }
        try await withMonitoredServer { running in
            let server = ServerAddress(host: "127.0.0.1", port: running.clientPort)
            try await EventClient.withClient(identity: identity("watcher"), servers: [server]) { watcher in
                let lease = try await watcher.lease(ChannelName("/ops/page/"))
                #expect(await lease.settled().isActive)
                try await EventClient.withClient(identity: identity("talker"), servers: [server]) { _ in
                    let profile = try temporaryDirectory("chromium")
                    defer { try? FileManager.default.removeItem(atPath: profile) }
                    let result = try await runCommand(
                        URL(fileURLWithPath: chromium),
                        [
                            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                            "--user-data-dir=\(profile)", "--virtual-time-budget=2000", "--dump-dom",
                            "http://127.0.0.1:\(running.monitorPort)/",
                        ],
                        seconds: 90
                    )
                    #expect(result.status == 0, "\(result.standardError.suffix(2000))")
                    let dom = result.standardOutput
                    let varz =
                        try JSONSerialization.jsonObject(
                            with: Data(try await get(port: running.monitorPort, "/varz").body.utf8)
                        ) as? [String: Any]
                    let connections = try #require(varz?["connections"] as? Int)
                    #expect(connections == 2)
                    #expect(
                        dom.contains("<div class=\"value\" id=\"connections\">\(connections)</div>"),
                        "\(dom.prefix(3000))"
                    )
                    #expect(dom.contains("id=\"server-name\">monitored.psepr<"))
                    #expect(dom.contains("/ops/page/"))
                    #expect(dom.contains("watcher") && dom.contains("talker"))
                }
            }
        }
    }
}
