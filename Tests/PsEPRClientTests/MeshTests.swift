import Foundation
import Logging
import PsEPRClient
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRServer
import PsEPRTesting
import Testing

/// Servers meshed over LeasePeer on loopback, with library clients on them.
@Suite(.serialized) struct MeshTests {
    static func temporaryDirectory() -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("psepr-mesh-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func withMesh<Result: Sendable>(
        servers: Int,
        initially: Int? = nil,
        _ body: (LocalMesh) async throws -> Result
    ) async throws -> Result {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "psepr.mesh.test")
        logger.logLevel = .warning
        return try await LocalMesh.run(servers: servers, initially: initially, directory: directory, logger: logger) {
            mesh in
            try await within(seconds: 20, "the mesh links up") { await mesh.waitForFullMesh() }
            return try await body(mesh)
        }
    }

    static func address(_ mesh: LocalMesh, _ index: Int) -> ServerAddress {
        ServerAddress(host: "127.0.0.1", port: mesh.nodes[index].server.clientPort)
    }

    static func text(_ value: String) -> [UInt8] { Array("<payload xmlns='urn:mesh'>\(value)</payload>".utf8) }

    static func event(_ channel: String, _ value: String) throws -> Event {
        Event(channel: try ChannelName(channel), payloadNamespace: "urn:mesh", payload: text(value))
    }

    static func values(_ events: [Event]) -> [String] {
        events.map {
            String(decoding: $0.payload, as: UTF8.self).replacingOccurrences(of: "<payload xmlns='urn:mesh'>", with: "")
                .replacingOccurrences(of: "</payload>", with: "")
        }
    }

    @Test func aLeaseOnOneServerDrawsEventsFromAnotherExactlyOnceUntilReleased() async throws {
        try await Self.withMesh(servers: 3) { mesh in
            let ids = mesh.nodes.map(\.server.id)
            try await EventClient.withClient(
                identity: identity("subscriber"),
                servers: [Self.address(mesh, 0)],
                options: fastOptions()
            ) { subscriber in
                let leaseX = try await subscriber.lease(ChannelName("/x/"))
                #expect(await leaseX.settled().isActive)
                try await within(seconds: 10, "B and C hold A's lease on /x/") {
                    await mesh.waitForPeerLease(
                        on: 0,
                        from: [ids[1], ids[2]],
                        Interest(channel: try ChannelName("/x/"), namespace: nil)
                    )
                }
                try await EventClient.withClient(
                    identity: identity("publisher"),
                    servers: [Self.address(mesh, 2)],
                    options: fastOptions()
                ) { publisher in
                    try await publisher.send(Self.event("/x/y/", "one"))
                    try await publisher.send(Self.event("/x/", "end"))
                    // Both arrive, in order, and nothing in between: no duplicate came over another path.
                    #expect(Self.values(try await leaseX.next(2)) == ["one", "end"])

                    await leaseX.release()
                    try await within(seconds: 10, "the peers release /x/") {
                        await mesh.waitForPeerRelease(on: 0, Interest(channel: try ChannelName("/x/"), namespace: nil))
                    }
                    let leasesOnC = mesh.nodes[2].router.leaseIdentifiers
                    #expect(!leasesOnC.contains { $0.hasPrefix("peer:/x/") })
                    // The publisher leases a marker channel of its own: once its marker comes back, C
                    // has routed the event sent before it, and delivered it to no one.
                    let marker = try await publisher.lease(ChannelName("/mark/"))
                    #expect(await marker.settled().isActive)
                    let deliveriesBefore = mesh.nodes[2].router.snapshot.statistics.deliveries
                    try await publisher.send(Self.event("/x/y/", "after release"))
                    try await publisher.send(Self.event("/mark/", "marker"))
                    #expect(Self.values(try await marker.next(1)) == ["marker"])
                    #expect(mesh.nodes[2].router.snapshot.statistics.deliveries == deliveriesBefore + 1)
                }
            }
        }
    }

    @Test func aStoppedServerRejoinsWhenRestartedAndTheOthersCarryOn() async throws {
        try await Self.withMesh(servers: 3) { mesh in
            let ids = mesh.nodes.map(\.server.id)
            await mesh.stop(1)
            // A and C still exchange while B is away.
            try await EventClient.withClient(
                identity: identity("onA"),
                servers: [Self.address(mesh, 0)],
                options: fastOptions()
            ) { subscriber in
                let lease = try await subscriber.lease(ChannelName("/still/"))
                #expect(await lease.settled().isActive)
                try await within(seconds: 10, "C holds A's lease") {
                    await mesh.waitForPeerLease(
                        on: 0,
                        from: [ids[2]],
                        Interest(channel: try ChannelName("/still/"), namespace: nil)
                    )
                }
                try await EventClient.withClient(
                    identity: identity("onC"),
                    servers: [Self.address(mesh, 2)],
                    options: fastOptions()
                ) { publisher in
                    try await publisher.send(Self.event("/still/here/", "while B is down"))
                }
                #expect(Self.values(try await lease.next(1)) == ["while B is down"])
                // B comes back on its ports; A and C dial it again (A as the lower ID; B dials C),
                // and A's lease, held all along, reaches B again.
                try await mesh.start(1)
                try await within(seconds: 20, "B rejoins") { await mesh.waitForFullMesh() }
                try await within(seconds: 10, "B holds A's lease again") {
                    await mesh.waitForPeerLease(
                        on: 0,
                        from: [ids[1]],
                        Interest(channel: try ChannelName("/still/"), namespace: nil)
                    )
                }
                try await EventClient.withClient(
                    identity: identity("onB"),
                    servers: [Self.address(mesh, 1)],
                    options: fastOptions()
                ) { publisher in
                    try await publisher.send(Self.event("/still/", "from B again"))
                }
                #expect(Self.values(try await lease.next(1)) == ["from B again"])
            }
            try await EventClient.withClient(
                identity: identity("onB"),
                servers: [Self.address(mesh, 1)],
                options: fastOptions()
            ) { subscriber in
                let lease = try await subscriber.lease(ChannelName("/back/"))
                #expect(await lease.settled().isActive)
                try await within(seconds: 10, "A and C hold B's lease") {
                    await mesh.waitForPeerLease(
                        on: 1,
                        from: [ids[0], ids[2]],
                        Interest(channel: try ChannelName("/back/"), namespace: nil)
                    )
                }
                for publisherIndex in [0, 2] {
                    try await EventClient.withClient(
                        identity: identity("publisher\(publisherIndex)"),
                        servers: [Self.address(mesh, publisherIndex)],
                        options: fastOptions()
                    ) { publisher in
                        try await publisher.send(Self.event("/back/", "from \(publisherIndex)"))
                    }
                }
                #expect(Set(Self.values(try await lease.next(2))) == ["from 0", "from 2"])
            }
        }
    }

    @Test func aPeerPresentingTheWrongKeyIsRefused() async throws {
        try await Self.withMesh(servers: 2) { mesh in
            let servers = mesh.nodes.map(\.server)
            // Server 1's section now holds a wrong key for server 2.
            var file = MeshFiles.leasePeerXML(servers)
            let section = file.range(of: "<node1>")!.lowerBound..<file.range(of: "</node1>")!.upperBound
            file.replaceSubrange(
                section,
                with: file[section].replacingOccurrences(of: servers[1].authKey, with: "not-the-key")
            )
            try file.write(toFile: mesh.leasePeerFile, atomically: true, encoding: .utf8)
            mesh.nodes[0].running?.server.reloadPeerConfiguration()
            try await within(seconds: 10, "server 1 refuses server 2's proof") {
                await mesh.waitUntil { observations in
                    observations.refusals[0, default: []].contains { $0.contains("does not hold the authKey") }
                }
            }
            #expect(mesh.nodes[0].running?.server.linkedPeers.isEmpty == true)
        }
    }

    @Test func aServerMissingFromTheFileRefusesPeerWorkButServesItsClients() async throws {
        try await Self.withMesh(servers: 2) { mesh in
            var file = MeshFiles.leasePeerXML(mesh.nodes.map(\.server))
            file.replaceSubrange(
                file.range(of: "<node1>")!.lowerBound..<file.range(of: "</node1>")!.upperBound,
                with: ""
            )
            try file.write(toFile: mesh.leasePeerFile, atomically: true, encoding: .utf8)
            mesh.nodes[0].running?.server.reloadPeerConfiguration()
            try await within(seconds: 10, "the link closes") {
                await mesh.waitUntil { !$0.linked[1, default: []].contains("1") && $0.linked[0, default: []].isEmpty }
            }
            #expect(mesh.nodes[0].running?.server.linkedPeers.isEmpty == true)
            try await EventClient.withClient(
                identity: identity("local"),
                servers: [Self.address(mesh, 0)],
                options: fastOptions()
            ) { client in
                let lease = try await client.lease(ChannelName("/local/"))
                #expect(await lease.settled().isActive)
                try await client.send(Self.event("/local/", "still served"))
                #expect(Self.values(try await lease.next(1)) == ["still served"])
            }
        }
    }

    @Test func aConfigurationChangeAddsAFourthServerWhileRunning() async throws {
        try await Self.withMesh(servers: 4, initially: 3) { mesh in
            try await mesh.start(3)
            try await within(seconds: 20, "the fourth server joins") { await mesh.waitForFullMesh() }
            let ids = mesh.nodes.map(\.server.id)
            try await EventClient.withClient(
                identity: identity("onD"),
                servers: [Self.address(mesh, 3)],
                options: fastOptions()
            ) { subscriber in
                let lease = try await subscriber.lease(ChannelName("/new/"))
                #expect(await lease.settled().isActive)
                try await within(seconds: 10, "the others hold D's lease") {
                    await mesh.waitForPeerLease(
                        on: 3,
                        from: Array(ids[0..<3]),
                        Interest(channel: try ChannelName("/new/"), namespace: nil)
                    )
                }
                try await EventClient.withClient(
                    identity: identity("onA"),
                    servers: [Self.address(mesh, 0)],
                    options: fastOptions()
                ) { publisher in
                    try await publisher.send(Self.event("/new/", "hello D"))
                }
                #expect(Self.values(try await lease.next(1)) == ["hello D"])
            }
        }
    }
}
