import Foundation
import Logging
import NIOCore
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRTesting
import Testing

@testable import PsEPRServer

/// Meshes that are not full meshes: events relayed across servers, each delivered once to every
/// matching subscriber however many paths the graph has, across a link cut and its restoration.
@Suite(.serialized) struct RelayMeshTests {
    /// A raw client on one server, leasing a channel and a fence channel of its own; keeps all
    /// it has received.
    struct Subscriber {
        let name: String
        let server: Int
        let client: LoadConnection
        var iterator: AsyncStream<ByteBuffer>.Iterator
        var text = ""
        var fences = 0

        /// Reads until the text received so far contains `marker`.
        mutating func receive(until marker: String, seconds: Int = 20) async throws {
            let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
            while !text.contains(marker) {
                guard ContinuousClock.now < deadline else {
                    throw TestFailure("\(name): timed out waiting for \(marker); have \(text.suffix(300))")
                }
                guard let chunk = await iterator.next() else { throw TestFailure("\(name): closed before \(marker)") }
                text += String(buffer: chunk)
            }
        }

        /// How many times the event with `body` arrived.
        func count(_ body: String) -> Int { text.components(separatedBy: "<v>\(body)</v>").count - 1 }

        /// Publishes on its own fence channel and reads until that comes back: everything its
        /// server queued for it before is read then.
        mutating func fence() async throws {
            fences += 1
            let body = "fence-\(name)-\(fences)"
            try await client.send(eventStanza("/fence/\(name)/", body: body))
            try await receive(until: "<v>\(body)</v>")
        }
    }

    static func withMesh<Result: Sendable>(
        servers: Int,
        layout: MeshLayout,
        _ body: (LocalMesh) async throws -> Result
    ) async throws -> Result {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("psepr-relay-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "psepr.relay.test")
        logger.logLevel = .error
        return try await LocalMesh.run(servers: servers, layout: layout, directory: directory, logger: logger) { mesh in
            try await within(seconds: 30, "the mesh links up") { await mesh.waitForFullMesh() }
            return try await body(mesh)
        }
    }

    static func subscribe(_ mesh: LocalMesh, server: Int, channel: String, name: String) async throws -> Subscriber {
        let (client, iterator, _) = try await loggedIn(
            port: mesh.nodes[server].server.clientPort,
            service: name,
            resource: name
        )
        var subscriber = Subscriber(name: name, server: server, client: client, iterator: iterator)
        for (leased, identifier) in [(channel, "main-\(name)"), ("/fence/\(name)/", "fence-\(name)")] {
            try await client.send(leaseStanza(leased, identifier: identifier))
            try await subscriber.receive(until: "<identifier>\(identifier)</identifier>")
        }
        return subscriber
    }

    /// Waits until every relayed event sent has been handled by its receiver (nothing in flight).
    static func waitUntilQuiet(_ mesh: LocalMesh) async throws {
        try await eventually(seconds: 20, "no relayed event in flight") {
            let servers = mesh.nodes.compactMap(\.running?.server)
            // Received first: a match then means nothing was in flight when it was read.
            let received = servers.reduce(0) { $0 + $1.relayedEventsReceived }
            let sent = mesh.nodes.filter { $0.running != nil }.reduce(0) { $0 + $1.router.relayedEventsSent }
            return received == sent
        }
    }

    /// Publishes `count` events from each of `publishers` (raw clients on those servers) and
    /// checks that every subscriber has each exactly once.
    static func publishAndCheck(
        _ mesh: LocalMesh,
        channel: String,
        round: String,
        publishers: [Int],
        count: Int,
        subscribers: inout [Subscriber]
    ) async throws {
        let subscriberServers = subscribers.map(\.server)
        try await within(seconds: 30, "routes for \(channel) (\(round))") {
            await mesh.waitForRoutes(
                Interest(channel: try ChannelName(channel), namespace: nil),
                from: publishers,
                to: subscriberServers
            )
        }
        var bodies: [String] = []
        for server in publishers {
            let (client, _, _) = try await loggedIn(
                port: mesh.nodes[server].server.clientPort,
                service: "pub\(server)",
                resource: "p\(server)"
            )
            for number in 0..<count {
                let body = "\(round)-s\(server)-\(number)"
                bodies.append(body)
                try await client.send(eventStanza(channel + "sub/", body: body))
            }
            _ = try? await client.channel.close()
        }
        for index in subscribers.indices {
            for body in bodies { try await subscribers[index].receive(until: "<v>\(body)</v>") }
        }
        // Any second copy would be queued by now: wait until nothing is in flight, then read
        // everything each subscriber's server queued for it.
        try await waitUntilQuiet(mesh)
        for index in subscribers.indices {
            try await subscribers[index].fence()
            for body in bodies {
                #expect(
                    subscribers[index].count(body) == 1,
                    "\(subscribers[index].name) got \(body) \(subscribers[index].count(body)) times"
                )
            }
        }
        // The fences travel too (their interest goes round any loop): let them settle before a
        // caller cuts a link, which would lose whatever it carries.
        try await waitUntilQuiet(mesh)
    }

    @Test func aChainOfFiveRelaysEveryEventToEveryEndExactlyOnce() async throws {
        try await Self.withMesh(servers: 5, layout: .chain) { mesh in
            #expect(mesh.nodes.allSatisfy { $0.running?.server.relaysEvents == true })
            var subscribers = [
                try await Self.subscribe(mesh, server: 0, channel: "/chain/", name: "first"),
                try await Self.subscribe(mesh, server: 4, channel: "/chain/", name: "last"),
                try await Self.subscribe(mesh, server: 2, channel: "/chain/", name: "middle"),
            ]
            try await Self.publishAndCheck(
                mesh,
                channel: "/chain/",
                round: "chain",
                publishers: [0, 1, 2, 3, 4],
                count: 3,
                subscribers: &subscribers
            )
            // A chain has no loop: nothing ever arrives twice at a server.
            #expect(mesh.nodes.allSatisfy { $0.running?.server.relayDuplicatesRefused == 0 })
        }
    }

    @Test func aRingOfSixDeliversOnceAcrossALinkCutAndItsRestoration() async throws {
        try await Self.withMesh(servers: 6, layout: .ring) { mesh in
            var subscribers = [
                try await Self.subscribe(mesh, server: 0, channel: "/ring/", name: "zero"),
                try await Self.subscribe(mesh, server: 3, channel: "/ring/", name: "three"),
            ]
            try await Self.publishAndCheck(
                mesh,
                channel: "/ring/",
                round: "whole",
                publishers: [1, 2, 4, 5],
                count: 3,
                subscribers: &subscribers
            )
            // Events went both ways round: the copies that met were refused, not delivered.
            #expect(mesh.nodes.reduce(0) { $0 + ($1.running?.server.relayDuplicatesRefused ?? 0) } > 0)

            let link = MeshLink(0, 1)
            try await within(seconds: 20, "the link 1–2 is cut") { try await mesh.cut(link) }
            try await Self.publishAndCheck(
                mesh,
                channel: "/ring/",
                round: "cut",
                publishers: [1, 2, 4, 5],
                count: 3,
                subscribers: &subscribers
            )

            try await within(seconds: 20, "the link 1–2 is back") { try await mesh.restore(link) }
            try await Self.publishAndCheck(
                mesh,
                channel: "/ring/",
                round: "restored",
                publishers: [1, 2, 4, 5],
                count: 3,
                subscribers: &subscribers
            )
        }
    }

    @Test func anInterestEchoedRoundARingDiesOutOnceItsSubscriberLeaves() async throws {
        try await Self.withMesh(servers: 6, layout: .ring) { mesh in
            let interest = Interest(channel: try ChannelName("/echo/"), namespace: nil)
            let subscriber = try await Self.subscribe(mesh, server: 0, channel: "/echo/", name: "leaving")
            try await within(seconds: 20, "every server routes /echo/ to server 1") {
                await mesh.waitForRoutes(interest, from: Array(1..<6), to: [0])
            }
            // The interest has gone both ways round and come back to server 1's neighbours; when
            // its only subscriber leaves, the copies the loop keeps passing on count up to the
            // mesh's longest path and are released everywhere.
            try await subscriber.client.channel.close()
            let identifier = PeerMesh.identifier(interest)
            try await within(seconds: 20, "no server holds a lease on /echo/ for another") {
                await mesh.waitUntil { observations in
                    observations.peerLeases.values.allSatisfy { !$0.contains { $0.hasSuffix(" \(identifier)") } }
                }
            }
            try await eventually(seconds: 20, "no router holds the lease on /echo/") {
                !mesh.nodes.contains { $0.router.leaseIdentifiers.contains(identifier) }
            }
            #expect(mesh.nodes.allSatisfy { node in !node.router.leaseIdentifiers.contains(identifier) })
        }
    }

    @Test func aSeededRandomGraphOfEightDeliversEveryEventExactlyOnce() async throws {
        let layout = MeshLayout.random(seed: 8, extraLinks: 4)
        #expect(MeshLayout.isConnected(layout.links(count: 8), count: 8))
        try await Self.withMesh(servers: 8, layout: layout) { mesh in
            var subscribers = [
                try await Self.subscribe(mesh, server: 1, channel: "/random/", name: "one"),
                try await Self.subscribe(mesh, server: 5, channel: "/random/", name: "five"),
                try await Self.subscribe(mesh, server: 7, channel: "/random/", name: "seven"),
            ]
            try await Self.publishAndCheck(
                mesh,
                channel: "/random/",
                round: "random",
                publishers: [0, 2, 3, 5, 6],
                count: 2,
                subscribers: &subscribers
            )
        }
    }

    @Test func aFullMeshStillSendsEventsOneHopWithoutStamps() async throws {
        try await Self.withMesh(servers: 3, layout: .full) { mesh in
            #expect(mesh.nodes.allSatisfy { $0.running?.server.relaysEvents == false })
            var subscribers = [try await Self.subscribe(mesh, server: 0, channel: "/full/", name: "a")]
            try await Self.publishAndCheck(
                mesh,
                channel: "/full/",
                round: "full",
                publishers: [1, 2],
                count: 2,
                subscribers: &subscribers
            )
            #expect(
                mesh.nodes.allSatisfy {
                    $0.router.relayedEventsSent == 0 && $0.running?.server.relayedEventsReceived == 0
                }
            )
        }
    }
}

@Suite struct MeshLayoutTests {
    @Test func layoutsHaveTheirLinks() {
        #expect(MeshLayout.full.links(count: 5).count == 10)
        #expect(MeshLayout.chain.links(count: 5) == [MeshLink(0, 1), MeshLink(1, 2), MeshLink(2, 3), MeshLink(3, 4)])
        #expect(MeshLayout.ring.links(count: 6).count == 6)
        #expect(MeshLayout.star.links(count: 4) == [MeshLink(0, 1), MeshLink(0, 2), MeshLink(0, 3)])
        #expect(
            MeshLayout.tree(fanOut: 2).links(count: 7) == [
                MeshLink(0, 1), MeshLink(0, 2), MeshLink(1, 3), MeshLink(1, 4), MeshLink(2, 5), MeshLink(2, 6),
            ]
        )
        let random = MeshLayout.random(seed: 20, extraLinks: 10)
        #expect(random.links(count: 20) == random.links(count: 20))
        #expect(random.links(count: 20).count == 29)
        #expect(MeshLayout.isConnected(random.links(count: 20), count: 20))
        #expect(!MeshLayout.isConnected(MeshLayout.chain.links(count: 5).subtracting([MeshLink(2, 3)]), count: 5))
    }

    static func servers(_ count: Int) -> [MeshServer] {
        (0..<count).map {
            MeshServer(
                name: "s\($0 + 1)",
                id: "\($0 + 1)",
                authKey: "k\($0 + 1)",
                peerHost: "h\($0 + 1)",
                clientHost: "h\($0 + 1)"
            )
        }
    }

    @Test func aServerReadsItsNeighboursAndTheShapeOfTheWholeMesh() throws {
        let servers = Self.servers(5)
        let tree = MeshFiles.leasePeerXML(servers, layout: .tree(fanOut: 2))
        let root = try PeerConfiguration.persite(Array(tree.utf8), hostname: "s1", defaultPort: 23341)
        #expect(root.peers.map(\.id) == ["2", "3"])
        #expect(root.topology?.isFullMesh == false)
        #expect(root.warnings.isEmpty)
        let leaf = try PeerConfiguration.persite(Array(tree.utf8), hostname: "s5", defaultPort: 23341)
        #expect(leaf.peers.map(\.id) == ["2"])
        let full = try PeerConfiguration.persite(
            Array(MeshFiles.leasePeerXML(servers).utf8),
            hostname: "s3",
            defaultPort: 23341
        )
        #expect(full.topology?.isFullMesh == true)
        #expect(full.topology?.maximumHops == 4)
        // The full mesh's file is what it always was.
        #expect(MeshFiles.leasePeerXML(servers) == MeshFiles.leasePeerXML(servers, layout: .full))
    }

    @Test func aFileThatLeavesTheMeshDisconnectedIsWarnedAboutNamingTheServersOutOfReach() throws {
        let servers = Self.servers(5)
        // 1–2–3 and 4–5: two islands.
        let file = MeshFiles.leasePeerXML(servers, links: [MeshLink(0, 1), MeshLink(1, 2), MeshLink(3, 4)])
        let configuration = try PeerConfiguration.persite(Array(file.utf8), hostname: "s2", defaultPort: 23341)
        let warning = try #require(configuration.warnings.first { $0.contains("disconnected") })
        #expect(warning.contains("s4 (ID 4)") && warning.contains("s5 (ID 5)"))
        #expect(!warning.contains("s1 (ID 1)") && !warning.contains("s3 (ID 3)"))
        #expect(configuration.topology?.unreachable(from: "2") == ["4", "5"])
    }
}

@Suite struct RelayWireTests {
    func decode(_ element: ByteBuffer, sequence: UInt64 = 9) throws -> (sequence: UInt64, message: PeerMessage) {
        var buffer = ByteBuffer()
        PeerWire.writeNumbered(element, sequence: sequence, into: &buffer)
        return try buffer.withUnsafeReadableBytes { try PeerWire.decode($0) }
    }

    @Test func relayedEventsCarryTheirStampThroughTheQuickPathAndTheFullParser() throws {
        let event = Event(
            channel: try ChannelName("/r/"),
            payloadNamespace: "urn:r",
            payload: Array("<payload xmlns='urn:r'><v>1</v></payload>".utf8)
        )
        let stamp = RelayStamp(origin: "17", epoch: 999_999_999_999_999_999, sequence: 42)
        var relayed = ByteBuffer()
        PeerWire.writeRelayed(StanzaEncoder.messageBuffer(event, id: "m1"), stamp: stamp, into: &relayed)
        guard case .relayed(let quick, let received, let element?) = try decode(relayed).message else {
            Issue.record("expected a relayed event with its element")
            return
        }
        #expect(quick == stamp)
        #expect(received.channel == event.channel && received.payload == event.payload)
        #expect(element.count > 0)
        // An origin with characters to escape takes the full parser, with the same result.
        let odd = RelayStamp(origin: "a&'b", epoch: 1, sequence: 2)
        var escaped = ByteBuffer()
        PeerWire.writeRelayed(StanzaEncoder.messageBuffer(event, id: "m1"), stamp: odd, into: &escaped)
        guard case .relayed(let parsed, let same, _) = try decode(escaped).message else {
            Issue.record("expected a relayed event")
            return
        }
        #expect(parsed == odd && same.channel == event.channel)
        #expect(throws: PsEPRError.self) {
            try decode(ByteBuffer(string: "<relay origin='1' epoch='x' seq='1'><message/></relay>"))
        }
    }

    @Test func registrationsCarryHopsOnlyWhenRelaying() throws {
        let channel = try ChannelName("/h/")
        let relayed = PeerMessage.register(
            identifier: "peer:/h/|",
            channel: channel,
            namespace: nil,
            seconds: 600,
            hops: 3
        )
        #expect(try decode(PeerWire.element(relayed)).message == relayed)
        let oneHop = PeerMessage.register(identifier: "peer:/h/|", channel: channel, namespace: nil, seconds: 600)
        #expect(
            String(buffer: PeerWire.element(oneHop))
                == "<lease op='register' identifier='peer:/h/|' channel='/h/' seconds='600'/>"
        )
        #expect(throws: PsEPRError.self) {
            try decode(ByteBuffer(string: "<lease op='register' identifier='i' channel='/h/' seconds='60' hops='-1'/>"))
        }
    }

    @Test func theDuplicateWindowTakesEachNumberOnce() {
        var filter = RelayDuplicateFilter()
        let a = { RelayStamp(origin: "a", epoch: 1, sequence: $0) }
        let old = 5000 - UInt64(RelayDuplicateFilter.windowBits)
        let answers = [
            filter.admit(a(5)), filter.admit(a(5)),
            filter.admit(a(3)), filter.admit(a(3)),  // late, within the window
            filter.admit(a(5000)), filter.admit(a(old)),  // too old to tell
            filter.admit(a(old + 1)),
            filter.admit(RelayStamp(origin: "a", epoch: 2, sequence: 5)),  // a new generation
            filter.admit(RelayStamp(origin: "b", epoch: 1, sequence: 5)),
        ]
        #expect(answers == [true, false, true, false, true, false, true, true, true])
        #expect(filter.duplicates == 3)
        for origin in 0..<(RelayDuplicateFilter.maximumOrigins + 10) {
            _ = filter.admit(RelayStamp(origin: "o\(origin)", epoch: 1, sequence: 1))
        }
        #expect(filter.origins == RelayDuplicateFilter.maximumOrigins)
    }
}
