import AsyncHTTPClient
import DP5Core
import DP5Server
import DP5Testing
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// Runs a plain-HTTP DP5 server on a free loopback port for the duration of `body`.
func withDP5Server<Result: Sendable>(
    registration: Bool,
    lookup: Bool,
    registrationServer: String? = nil,
    _ body: @Sendable (_ port: Int) async throws -> Result
) async throws -> Result {
    let directory = try temporaryDirectory("dp5")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let configuration = try ServerConfiguration(
        host: "127.0.0.1",
        port: 0,
        isRegistrationServer: registration,
        isLookupServer: lookup,
        registrationDirectory: directory + "/regdir",
        dataDirectory: directory + "/datadir",
        registrationServer: registrationServer
    )
    return try await runServer(configuration, logger: Logger(label: "dp5.test"), body)
}

func post(port: Int, _ path: String, _ body: [UInt8]) async throws -> Int {
    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    request.method = .POST
    request.body = .bytes(ByteBuffer(bytes: body))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    _ = try await response.body.collect(upTo: 1 << 24)
    return Int(response.status.code)
}

@Suite("DP5 metrics and health", .serialized)
struct DP5MonitoringTests {
    @Test func aServerInBothRolesIsHealthyAndCountsRegistrationsAndLookups() async throws {
        try await withDP5Server(registration: true, lookup: true) { port in
            let health = try await get(port: port, "/healthz")
            #expect(health.status == 200, "\(health.body)")
            let status =
                try JSONSerialization.jsonObject(with: Data(try await get(port: port, "/").body.utf8)) as? [String: Any]
            let epoch = try #require(status?["epoch"] as? Int)
            // A message shorter than its epoch, and a lookup request that is not one.
            #expect(try await post(port: port, "/register/\(epoch)", [1, 2]) == 200)
            #expect(try await post(port: port, "/lookup/\(epoch)", [0xEE]) == 200)
            #expect(try await post(port: port, "/lookup/\(epoch)", [0xFF] + Epoch(UInt32(epoch)).wireBytes) == 200)
            let response = try await get(port: port, "/metrics")
            #expect(response.status == 200)
            let metrics = try parsePrometheus(response.body)
            #expect(metrics["dp5_registrations_total{code=\"message_too_short\"}"] == 1, "\(response.body)")
            #expect(metrics["dp5_lookups_total{kind=\"invalid\"}"] == 1)
            #expect(metrics["dp5_lookups_total{kind=\"metadata\"}"] == 1)
            #expect((metrics["dp5_epoch_builds_total"] ?? 0) >= 1)
            #expect((metrics["dp5_epoch_build_duration_seconds_count"] ?? 0) >= 1)
            #expect(metrics["dp5_current_epoch"] == Double(epoch))
            #expect(metrics["dp5_database_loaded"] == 1)
            #expect(metrics["dp5_database_bytes"] != nil)
        }
    }

    @Test func aLookupServerWithoutItsDatabaseIsUnavailable() async throws {
        // Its registration server is nowhere, so no database arrives.
        try await withDP5Server(registration: false, lookup: true, registrationServer: "http://127.0.0.1:1") { port in
            let health = try await get(port: port, "/healthz")
            #expect(health.status == 503)
            #expect(health.body.contains("\"name\":\"database.epoch\",\"passing\":false"))
            #expect(health.body.contains("\"name\":\"listener.http\",\"passing\":true"))
        }
    }
}
