import ArgumentParser
import Foundation
import Logging
import NIOCore
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRServer

/// `psepr peers build`: the original's `buildLeasePeer` and `buildjClientxml` in one step.
struct PeersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "Build the mesh's shared files.",
        subcommands: [Build.self]
    )

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract:
                "Write LeasePeer.xml (PERSITE, fresh authKeys; a full mesh, a tree or a star) and jClient.xml from a list of active servers.",
            discussion: """
                ACTIVE-PEERS lists one server a line: NAME [peer=HOST:PORT] [client=HOST:PORT]. NAME is the \
                server's /PsEPRServer/identity/hostname (its section in LeasePeer.xml); peers and clients reach it \
                at NAME:23341 and NAME:23345 unless the options say otherwise. IDs follow the order of the list. \
                --topology full (the default) links every server with every other and events go one hop; tree links \
                server i (from 0) under server (i-1)/--fan-out, star links every server with the first, chain and \
                ring link each with the next; every layout but full relays events across servers, each delivered \
                once. Put LeasePeer.xml where every server's /PsEPRServer/peer/leasePeer/configurationURL points and \
                jClient.xml where clients read their server list. The authKeys are secrets: keep the file private.
                """
        )

        @Argument(help: "The active-servers list.")
        var activePeers: String

        @Option(help: "Where to write the PERSITE peer file.")
        var leasePeer: String = "LeasePeer.xml"

        @Option(help: "Where to write the clients' server list.")
        var jclient: String = "jClient.xml"

        @Option(help: "Which servers link with which: full, tree, star, chain or ring.")
        var topology: String = "full"

        @Option(help: "Children per server in a tree.")
        var fanOut: Int = 3

        func validate() throws {
            guard ["full", "tree", "star", "hub", "chain", "ring"].contains(topology.lowercased()) else {
                throw ValidationError("--topology is one of full, tree, star, chain, ring")
            }
            guard fanOut >= 1 else { throw ValidationError("--fan-out must be at least 1") }
        }

        func run() async throws {
            guard let text = try? String(contentsOfFile: activePeers, encoding: .utf8) else {
                throw ValidationError("cannot read \(activePeers)")
            }
            let servers = try MeshFiles.activeServers(text)
            guard !servers.isEmpty else { throw ValidationError("\(activePeers) lists no servers") }
            guard servers.count <= PeerConfiguration.maximumPeers + 1 else {
                throw ValidationError("at most \(PeerConfiguration.maximumPeers + 1) servers fit one mesh")
            }
            guard let layout = MeshLayout(name: topology, fanOut: fanOut) else {
                throw ValidationError("unknown topology \(topology)")
            }
            let links = layout.links(count: servers.count)
            try MeshFiles.leasePeerXML(servers, links: links).write(
                toFile: leasePeer,
                atomically: true,
                encoding: .utf8
            )
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: leasePeer)
            try MeshFiles.jClientXML(servers).write(toFile: jclient, atomically: true, encoding: .utf8)
            let forwarding = layout.isFull || servers.count < 3 ? "events go one hop" : "events are relayed"
            print(
                "\(leasePeer): \(servers.count) servers, \(links.count) peer links, \(topology.lowercased()) (\(forwarding); IDs \(servers.map(\.id).joined(separator: ", ")))"
            )
            print("\(jclient): \(servers.count) client addresses")
        }
    }
}

/// `psepr mesh-demo`: N servers meshed on loopback in a chosen layout, clients on every server,
/// events published on some and delivered everywhere, each subscriber's deliveries counted
/// against what it should get exactly once, with links, rates and memory.
struct MeshDemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh-demo",
        abstract:
            "Run N meshed servers on loopback with clients on each; publish and check every delivery arrives exactly once.",
        discussion: """
            Clients on every server lease /mesh/groupK/ (client number modulo --groups); --publishers clients, \
            spread over the servers, publish --events events in all round robin over the groups, so each event \
            crosses the mesh to the subscribers of its group on every server. Every subscriber's deliveries are \
            counted: the run passes only if each got exactly the events of its group, once. --topology full is \
            the one-hop mesh; chain, ring, star, tree (--fan-out) and random (--seed) relay. --cut-link publishes \
            in three rounds, cutting a link that leaves the mesh connected after the first and restoring it after \
            the second. The scale run of the Server Guide's largest deployment: --servers 20 --clients 400.
            """
    )

    @Option(help: "Servers in the mesh.")
    var servers: Int = 3

    @Option(help: "Which servers link with which: full, chain, ring, star, tree or random.")
    var topology: String = "full"

    @Option(help: "Children per server in a tree.")
    var fanOut: Int = 3

    @Option(help: "Seed of the random layout.")
    var seed: UInt64 = 1

    @Flag(
        help:
            "Cut a link (one whose loss leaves the mesh connected) after a third of the events, restore it after two thirds."
    )
    var cutLink = false

    @Option(help: "Subscribing clients on each server.")
    var clients: Int = 10

    @Option(help: "Channels the subscribers are spread over.")
    var groups: Int = 5

    @Option(help: "Publishing clients, spread over the servers.")
    var publishers: Int = 3

    @Option(help: "Events published in all.")
    var events: Int = 3000

    @Option(help: "Events per second in all (0: as fast as the sockets take them).")
    var rate: Double = 2000

    @Option(help: "Bytes of payload per event.")
    var payloadBytes: Int = 200

    @Option(help: "Directory for LeasePeer.xml (default: a fresh temporary one, removed afterwards).")
    var directory: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        guard servers >= 1, clients >= 1, groups >= 1, publishers >= 1, events >= 1, rate >= 0, payloadBytes >= 40,
            fanOut >= 1
        else {
            throw ValidationError("counts must be positive and the payload at least 40 bytes")
        }
        guard servers <= PeerConfiguration.maximumPeers + 1 else {
            throw ValidationError("at most \(PeerConfiguration.maximumPeers + 1) servers")
        }
        guard layout != nil else {
            throw ValidationError("--topology is one of \(MeshLayout.names.joined(separator: ", "))")
        }
        if cutLink, removableLink == nil {
            throw ValidationError("--cut-link needs a layout with a loop (ring, full or random with extra links)")
        }
    }

    private var layout: MeshLayout? { MeshLayout(name: topology, fanOut: fanOut, seed: seed, servers: servers) }

    /// A link whose loss leaves the mesh connected (the highest such, for the same choice each run).
    private var removableLink: MeshLink? {
        guard let links = layout?.links(count: servers) else { return nil }
        return links.sorted().reversed().first { MeshLayout.isConnected(links.subtracting([$0]), count: servers) }
    }

    struct Result: Encodable {
        var servers: Int
        var topology: String
        var clients: Int
        var peerLinks: Int
        var fullMeshLinks: Int
        var linkCut: String?
        var meshSeconds: Double
        var setupSeconds: Double
        var events: Int
        var expected: Int
        var delivered: Int
        var subscribersWrong: Int
        var exactlyOnce: Bool
        var duplicatesSuppressed: Int
        var dropped: Int
        var deliveredPerSecond: Double
        var latencyP50Milliseconds: Double?
        var latencyP99Milliseconds: Double?
        var residentMegabytes: Double?
        var residentMegabytesPerServer: Double?
    }

    func run() async throws {
        var logger = Logger(label: "psepr.mesh-demo") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        let directory =
            self.directory
            ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("psepr-mesh-\(UUID().uuidString)")
        defer { if self.directory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        guard let layout else { throw ValidationError("unknown topology") }
        let begun = monotonicNanoseconds()
        let result = try await LocalMesh.run(
            servers: servers,
            layout: layout,
            directory: directory,
            logger: logger,
            configure: { _, configuration in
                configuration.maximumConnections = max(configuration.maximumConnections, clients + publishers + 8)
            }
        ) { mesh in
            try await within(seconds: 300, "the mesh links up") { await mesh.waitForFullMesh() }
            let meshed = monotonicNanoseconds()
            say(
                "\(servers) servers linked (\(topology.lowercased())): \(mesh.links.count) peer links (a full mesh: \(servers * (servers - 1) / 2)) in \(String(format: "%.2f", Double(meshed - begun) / 1e9)) s (LeasePeer.xml in \(directory))"
            )
            return try await exercise(mesh, begun: begun, meshed: meshed)
        }
        if json { printJSONLine(result) }
        if !result.exactlyOnce { throw ExitCode(1) }
    }

    private func say(_ line: String) { if !json { print(line) } }

    private func exercise(_ mesh: LocalMesh, begun: UInt64, meshed: UInt64) async throws -> Result {
        let nodes = mesh.nodes
        let tally = DeliveryTally()
        var subscribers: [LoadConnection] = []
        var groupOfSubscriber: [Int] = []
        var serversInGroup = [Set<Int>](repeating: [], count: groups)
        for node in nodes {
            for first in stride(from: 0, to: clients, by: 50) {
                let firstNumber = groupOfSubscriber.count
                var batch: [(number: Int, group: Int, index: Int)] = []
                for index in first..<min(first + 50, clients) {
                    let group = (node.index * clients + index) % groups
                    batch.append((firstNumber + batch.count, group, index))
                    serversInGroup[group].insert(node.index)
                }
                groupOfSubscriber += batch.map(\.group)
                subscribers += try await withThrowingTaskGroup(of: LoadConnection.self) { tasks in
                    for entry in batch {
                        tasks.addTask {
                            let connection = try await LoadConnection.connect(
                                to: "127.0.0.1",
                                port: node.server.clientPort,
                                service: "mesh_sub",
                                instance: "n\(node.index)c\(entry.index)"
                            )
                            try await connection.lease("/mesh/group\(entry.group)/", identifier: "g\(entry.group)")
                            try await connection.startCounting(into: tally, subscriber: entry.number)
                            return connection
                        }
                    }
                    return try await tasks.reduce(into: []) { $0.append($1) }
                }
            }
        }
        let publisherServers = Array(Set((0..<publishers).map { $0 % nodes.count })).sorted()
        // Every publisher's server must reach every server with subscribers of a group, along
        // the leases the servers hold for each other, before anything is published.
        func waitForRoutes(_ what: String) async throws {
            for group in 0..<groups where !serversInGroup[group].isEmpty {
                let interest = Interest(channel: try ChannelName("/mesh/group\(group)/"), namespace: nil)
                let targets = Array(serversInGroup[group])
                try await within(seconds: 120, "\(what): routes for group \(group)") {
                    await mesh.waitForRoutes(interest, from: publisherServers, to: targets)
                }
            }
        }
        try await waitForRoutes("set-up")
        let setUp = monotonicNanoseconds()
        say(
            "\(subscribers.count) clients leasing \(groups) channels; every publisher's server reaches every subscriber's (\(String(format: "%.2f", Double(setUp - meshed) / 1e9)) s)"
        )

        var publishing: [LoadConnection] = []
        for index in 0..<publishers {
            let node = nodes[index % nodes.count]
            publishing.append(
                try await LoadConnection.connect(
                    to: "127.0.0.1",
                    port: node.server.clientPort,
                    service: "mesh_pub",
                    instance: "p\(index)"
                )
            )
        }
        defer { for connection in subscribers + publishing { connection.channel.close(promise: nil) } }
        let templates = StanzaTemplates(
            channels: (0..<groups).map { "/mesh/group\($0)/" },
            instance: "p",
            payloadBytes: payloadBytes
        )
        var eventsPerGroup = [Int](repeating: 0, count: groups)
        let droppedBefore = nodes.reduce(0) { $0 + $1.router.snapshot.statistics.dropped }
        let started = monotonicNanoseconds()
        // Publishes `total` events across the publishers and waits until the subscribers have them.
        func publishRound(_ total: Int) async throws {
            let share = total / publishers
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for (index, publisher) in publishing.enumerated() {
                    let count = index == 0 ? share + total % publishers : share
                    for event in 0..<count { eventsPerGroup[event % groups] += 1 }
                    let perPublisherRate = rate / Double(publishers)
                    // One event at a time, the publishers' clocks staggered so their events interleave
                    // instead of arriving in bursts.
                    let offset = rate > 0 ? UInt64(Double(index) / rate * 1e9) : 0
                    let roundStart = monotonicNanoseconds()
                    tasks.addTask {
                        try await publisher.publish(
                            templates,
                            count: count,
                            batch: 1,
                            rate: perPublisherRate,
                            started: roundStart + offset
                        )
                    }
                }
                try await tasks.waitForAll()
            }
            let expectedSoFar = groupOfSubscriber.reduce(0) { $0 + eventsPerGroup[$1] }
            try await tally.waitForDeliveries(expectedSoFar)
        }
        var linkCut: MeshLink?
        if cutLink, let link = removableLink {
            try await publishRound(events / 3)
            try await within(seconds: 60, "cutting link \(link)") { try await mesh.cut(link) }
            try await waitForRoutes("after the cut")
            say("link \(link) cut after \(events / 3) events; the mesh stays connected")
            try await publishRound(events / 3)
            try await within(seconds: 60, "restoring link \(link)") { try await mesh.restore(link) }
            try await waitForRoutes("after the restore")
            say("link \(link) restored after \(2 * (events / 3)) events")
            try await publishRound(events - 2 * (events / 3))
            linkCut = link
        } else {
            try await publishRound(events)
        }
        let published = monotonicNanoseconds()
        let expected = groupOfSubscriber.reduce(0) { $0 + eventsPerGroup[$1] }
        let received = tally.perSubscriber
        let wrong = groupOfSubscriber.enumerated().filter {
            received[$0.offset, default: 0] != eventsPerGroup[$0.element]
        }.count
        let elapsed = Double(max(tally.lastDelivery, published) - started) / 1e9
        let dropped = nodes.reduce(0) { $0 + $1.router.snapshot.statistics.dropped } - droppedBefore
        let duplicates = nodes.reduce(0) { $0 + ($1.running?.server.relayDuplicatesRefused ?? 0) }
        let memory = BenchCommand.residentMegabytes()
        let result = Result(
            servers: nodes.count,
            topology: topology.lowercased(),
            clients: subscribers.count + publishing.count,
            peerLinks: mesh.links.count,
            fullMeshLinks: nodes.count * (nodes.count - 1) / 2,
            linkCut: linkCut.map(\.description),
            meshSeconds: Double(meshed - begun) / 1e9,
            setupSeconds: Double(setUp - meshed) / 1e9,
            events: events,
            expected: expected,
            delivered: tally.delivered,
            subscribersWrong: wrong,
            exactlyOnce: wrong == 0 && tally.delivered == expected,
            duplicatesSuppressed: duplicates,
            dropped: dropped,
            deliveredPerSecond: Double(tally.delivered) / elapsed,
            latencyP50Milliseconds: tally.latencyMilliseconds(atPercentile: 50),
            latencyP99Milliseconds: tally.latencyMilliseconds(atPercentile: 99),
            residentMegabytes: memory,
            residentMegabytesPerServer: memory.map { $0 / Double(nodes.count) }
        )
        say(
            String(
                format:
                    "%d events from %d publishers: %d of %d deliveries, %@, %.0f deliveries/s, dropped %d, duplicates suppressed by servers %d",
                events,
                publishers,
                result.delivered,
                expected,
                result.exactlyOnce
                    ? "every subscriber got each of its events exactly once" : "\(wrong) SUBSCRIBERS WRONG",
                result.deliveredPerSecond,
                dropped,
                duplicates
            )
        )
        if let p50 = result.latencyP50Milliseconds, let p99 = result.latencyP99Milliseconds {
            say(String(format: "latency p50 %.2f ms, p99 %.2f ms", p50, p99))
        }
        if let memory {
            say(
                String(
                    format: "memory (all servers and clients in this process): RSS %.0f MB, %.1f MB per server",
                    memory,
                    memory / Double(nodes.count)
                )
            )
        }
        return result
    }
}
