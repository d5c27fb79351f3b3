import ArgumentParser
import Foundation
import Logging
import NIOCore
import PsEPRCore
import PsEPRServer

/// `psepr peers build`: the original's `buildLeasePeer` and `buildjClientxml` in one step.
struct PeersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers", abstract: "Build the mesh's shared files.", subcommands: [Build.self]
    )

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Write LeasePeer.xml (PERSITE, full mesh, fresh authKeys) and jClient.xml from a list of active servers.",
            discussion: """
                ACTIVE-PEERS lists one server a line: NAME [peer=HOST:PORT] [client=HOST:PORT]. NAME is the \
                server's /PsEPRServer/identity/hostname (its section in LeasePeer.xml); peers and clients reach it \
                at NAME:23341 and NAME:23345 unless the options say otherwise. IDs follow the order of the list. \
                Put LeasePeer.xml where every server's /PsEPRServer/peer/leasePeer/configurationURL points and \
                jClient.xml where clients read their server list. The authKeys are secrets: keep the file private.
                """
        )

        @Argument(help: "The active-servers list.")
        var activePeers: String

        @Option(help: "Where to write the PERSITE peer file.")
        var leasePeer: String = "LeasePeer.xml"

        @Option(help: "Where to write the clients' server list.")
        var jclient: String = "jClient.xml"

        func run() async throws {
            guard let text = try? String(contentsOfFile: activePeers, encoding: .utf8) else { throw ValidationError("cannot read \(activePeers)") }
            let servers = try MeshFiles.activeServers(text)
            guard !servers.isEmpty else { throw ValidationError("\(activePeers) lists no servers") }
            guard servers.count <= PeerConfiguration.maximumPeers + 1 else { throw ValidationError("at most \(PeerConfiguration.maximumPeers + 1) servers fit one mesh") }
            try MeshFiles.leasePeerXML(servers).write(toFile: leasePeer, atomically: true, encoding: .utf8)
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: leasePeer)
            try MeshFiles.jClientXML(servers).write(toFile: jclient, atomically: true, encoding: .utf8)
            print("\(leasePeer): \(servers.count) servers, \(servers.count * (servers.count - 1) / 2) peer links (IDs \(servers.map(\.id).joined(separator: ", ")))")
            print("\(jclient): \(servers.count) client addresses")
        }
    }
}

/// `psepr mesh-demo`: N servers meshed on loopback, clients on every server, events published on
/// some and delivered everywhere, with counts, rates and memory.
struct MeshDemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh-demo",
        abstract: "Run N meshed servers on loopback with clients on each; publish and count deliveries across the mesh.",
        discussion: """
            Clients on every server lease /mesh/groupK/ (client number modulo --groups); --publishers clients, \
            spread over the servers, publish --events events in all round robin over the groups, so each event \
            crosses the mesh to the subscribers of its group on every server. The scale run of the Server Guide's \
            largest deployment: --servers 20 --clients 400.
            """
    )

    @Option(help: "Servers in the mesh.")
    var servers: Int = 3

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
        guard servers >= 1, clients >= 1, groups >= 1, publishers >= 1, events >= 1, rate >= 0, payloadBytes >= 40 else {
            throw ValidationError("counts must be positive and the payload at least 40 bytes")
        }
        guard servers <= PeerConfiguration.maximumPeers + 1 else { throw ValidationError("at most \(PeerConfiguration.maximumPeers + 1) servers") }
    }

    struct Result: Encodable {
        var servers: Int
        var clients: Int
        var peerLinks: Int
        var meshSeconds: Double
        var setupSeconds: Double
        var events: Int
        var expected: Int
        var delivered: Int
        var dropped: Int
        var deliveredPerSecond: Double
        var latencyP50Milliseconds: Double?
        var latencyP99Milliseconds: Double?
        var residentMegabytes: Double?
    }

    func run() async throws {
        var logger = Logger(label: "psepr.mesh-demo") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        let directory = self.directory ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("psepr-mesh-\(UUID().uuidString)")
        defer { if self.directory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let begun = monotonicNanoseconds()
        let result = try await LocalMesh.run(servers: servers, directory: directory, logger: logger, configure: { _, configuration in
            configuration.maximumConnections = max(configuration.maximumConnections, clients + publishers + 8)
        }) { mesh in
            try await within(seconds: 120, "the mesh links up") { await mesh.waitForFullMesh() }
            let meshed = monotonicNanoseconds()
            say("\(servers) servers linked: \(servers * (servers - 1) / 2) peer links in \(String(format: "%.2f", Double(meshed - begun) / 1e9)) s (LeasePeer.xml in \(directory))")
            return try await exercise(mesh, begun: begun, meshed: meshed)
        }
        if json { printJSONLine(result) }
    }

    private func say(_ line: String) { if !json { print(line) } }

    private func exercise(_ mesh: LocalMesh, begun: UInt64, meshed: UInt64) async throws -> Result {
        let nodes = mesh.nodes
        let tally = BenchTally()
        var subscribers: [LoadConnection] = []
        var perGroup = [Int](repeating: 0, count: groups)
        for node in nodes {
            for first in stride(from: 0, to: clients, by: 50) {
                subscribers += try await withThrowingTaskGroup(of: LoadConnection.self) { tasks in
                    for index in first..<min(first + 50, clients) {
                        let group = (node.index * clients + index) % groups
                        perGroup[group] += 1
                        tasks.addTask {
                            let connection = try await LoadConnection.connect(to: "127.0.0.1", port: node.server.clientPort, service: "mesh_sub", instance: "n\(node.index)c\(index)")
                            try await connection.lease("/mesh/group\(group)/", identifier: "g\(group)")
                            try await connection.startCounting(into: tally)
                            return connection
                        }
                    }
                    return try await tasks.reduce(into: []) { $0.append($1) }
                }
            }
        }
        // Every server's interest in every group must be held by all its peers before publishing.
        let ids = nodes.map(\.server.id)
        for node in nodes {
            let others = ids.filter { $0 != node.server.id }
            for group in 0..<groups where perGroup[group] > 0 {
                let interest = Interest(channel: try ChannelName("/mesh/group\(group)/"), namespace: nil)
                try await within(seconds: 60, "peers hold the leases of server \(node.index + 1)") {
                    await mesh.waitForPeerLease(on: node.index, from: others, interest)
                }
            }
        }
        let setUp = monotonicNanoseconds()
        say("\(subscribers.count) clients leasing \(groups) channels; every server's leases held by its peers (\(String(format: "%.2f", Double(setUp - meshed) / 1e9)) s)")

        var publishing: [LoadConnection] = []
        for index in 0..<publishers {
            let node = nodes[index % nodes.count]
            publishing.append(try await LoadConnection.connect(to: "127.0.0.1", port: node.server.clientPort, service: "mesh_pub", instance: "p\(index)"))
        }
        defer { for connection in subscribers + publishing { connection.channel.close(promise: nil) } }
        let templates = StanzaTemplates(channels: (0..<groups).map { "/mesh/group\($0)/" }, instance: "p", payloadBytes: payloadBytes)
        let share = events / publishers
        var expected = 0
        let droppedBefore = nodes.reduce(0) { $0 + $1.router.snapshot.statistics.dropped }
        let started = monotonicNanoseconds()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, publisher) in publishing.enumerated() {
                let count = index == 0 ? share + events % publishers : share
                expected += (0..<count).reduce(0) { $0 + perGroup[$1 % groups] }
                let perPublisherRate = rate / Double(publishers)
                // One event at a time, the publishers' clocks staggered so their events interleave
                // instead of arriving in bursts.
                let offset = rate > 0 ? UInt64(Double(index) / rate * 1e9) : 0
                tasks.addTask { try await publisher.publish(templates, count: count, batch: 1, rate: perPublisherRate, started: started + offset) }
            }
            try await tasks.waitForAll()
        }
        let published = monotonicNanoseconds()
        try await tally.waitForDeliveries(expected)
        let elapsed = Double(max(tally.lastDelivery, published) - started) / 1e9
        let histogram = tally.histogram
        let dropped = nodes.reduce(0) { $0 + $1.router.snapshot.statistics.dropped } - droppedBefore
        let result = Result(
            servers: nodes.count, clients: subscribers.count + publishing.count, peerLinks: nodes.count * (nodes.count - 1) / 2,
            meshSeconds: Double(meshed - begun) / 1e9, setupSeconds: Double(setUp - meshed) / 1e9,
            events: events, expected: expected, delivered: tally.delivered, dropped: dropped,
            deliveredPerSecond: Double(tally.delivered) / elapsed,
            latencyP50Milliseconds: histogram.percentile(0.5).map { $0 / 1e6 }, latencyP99Milliseconds: histogram.percentile(0.99).map { $0 / 1e6 },
            residentMegabytes: BenchCommand.residentMegabytes()
        )
        say(String(format: "%d events from %d publishers: %d of %d deliveries (%@), %.0f deliveries/s, dropped %d", events, publishers, result.delivered, expected,
                   result.delivered == expected ? "all" : "MISSING \(expected - result.delivered)", result.deliveredPerSecond, dropped))
        if let p50 = result.latencyP50Milliseconds, let p99 = result.latencyP99Milliseconds { say(String(format: "latency p50 %.2f ms, p99 %.2f ms", p50, p99)) }
        if let memory = result.residentMegabytes { say(String(format: "memory (all servers and clients in this process): RSS %.0f MB", memory)) }
        if result.delivered != expected { throw ExitCode(1) }
        return result
    }
}

