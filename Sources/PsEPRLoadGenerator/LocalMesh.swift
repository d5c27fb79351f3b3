import Foundation
public import Logging
import NIOCore
import PsEPRCore
public import PsEPRServer
import ServiceLifecycle
import Synchronization

/// Several servers in one process on 127.0.0.1, meshed through a PERSITE `LeasePeer.xml` in a
/// directory: for trying the mesh out (`psepr mesh-demo`), tests and scale runs.
///
/// Servers start on free ports; once all are up the file of the layout (a full mesh unless
/// told otherwise) is written and every server reads it. A stopped server restarts on the ports
/// it had, so the file stays right. Links can be cut and restored through the file.
public final class LocalMesh: Sendable {
    /// One server of the mesh.
    public struct Node: Sendable {
        /// Its position, from 0.
        public let index: Int
        /// Its entry in the files (name, ID, key, ports once bound).
        public var server: MeshServer
        /// The router, for counters.
        public let router: EventRouter
        /// The running server, while it runs.
        public var running: RunningEventServer?
    }

    private struct Runner {
        let group: ServiceGroup
        let finished: AsyncStream<Void>
    }

    /// What the servers' meshes have reported so far.
    public struct Observations: Sendable {
        /// By server index, the IDs of the peers it is linked to.
        public var linked: [Int: Set<String>] = [:]
        /// By server index, the lease identifiers its peers hold for it now, as `peerID identifier`.
        public var peerLeases: [Int: Set<String>] = [:]
        /// By server index, the handshakes it refused, with the reason.
        public var refusals: [Int: [String]] = [:]

        /// Whether every running server in `indices` is linked to every other.
        public func fullyLinked(_ indices: [Int], ids: [Int: String]) -> Bool {
            indices.allSatisfy { index in
                indices.filter { $0 != index }.allSatisfy { other in
                    ids[other].map { linked[index, default: []].contains($0) } ?? false
                }
            }
        }

        /// Whether both ends of every link in `links` report it up.
        public func linked(_ links: Set<MeshLink>, ids: [Int: String]) -> Bool {
            links.allSatisfy { link in
                guard let lower = ids[link.lower], let upper = ids[link.upper] else { return false }
                return linked[link.lower, default: []].contains(upper)
                    && linked[link.upper, default: []].contains(lower)
            }
        }

        /// Whether both ends of `link` report it down.
        public func unlinked(_ link: MeshLink, ids: [Int: String]) -> Bool {
            guard let lower = ids[link.lower], let upper = ids[link.upper] else { return true }
            return !linked[link.lower, default: []].contains(upper) && !linked[link.upper, default: []].contains(lower)
        }

        /// Whether an event published on server `from` reaches server `to` along the leases its
        /// peers hold for `identifier`: server Y passes an event on to X when Y holds X's lease.
        /// With `oneHop` (a full mesh) only a direct lease counts.
        public func routes(_ identifier: String, from: Int, to: Int, ids: [Int: String], oneHop: Bool) -> Bool {
            guard from != to else { return true }
            let index = Dictionary(uniqueKeysWithValues: ids.map { ($0.value, $0.key) })
            // Edges Y -> X for each lease of X held by Y.
            var next: [Int: [Int]] = [:]
            for (holder, leases) in peerLeases {
                for entry in leases where entry.hasSuffix(" \(identifier)") {
                    if let peer = index[String(entry.prefix { $0 != " " })] { next[peer, default: []].append(holder) }
                }
            }
            if oneHop { return next[from, default: []].contains(to) }
            var reached: Set<Int> = [from]
            var frontier = [from]
            while let server = frontier.popLast() {
                for target in next[server, default: []] where reached.insert(target).inserted {
                    if target == to { return true }
                    frontier.append(target)
                }
            }
            return false
        }
    }

    private struct Waiter {
        let condition: @Sendable (Observations) -> Bool
        let signal: AsyncStream<Void>.Continuation
    }

    private struct State {
        var nodes: [Node]
        /// The links the file lists now.
        var links: Set<MeshLink>
        var runners: [Int: Runner] = [:]
        var observations = Observations()
        var waiters: [Waiter] = []
    }

    /// The directory holding `LeasePeer.xml`.
    public let directory: String
    private let logger: Logger
    private let configure: @Sendable (Int, inout EventServerConfiguration) -> Void
    private let state: Mutex<State>
    private let starts: AsyncStream<(ServiceGroup, AsyncStream<Void>.Continuation)>.Continuation
    private let startRequests: AsyncStream<(ServiceGroup, AsyncStream<Void>.Continuation)>

    /// The layout the mesh was started with.
    public let layout: MeshLayout

    private init(
        count: Int,
        layout: MeshLayout,
        directory: String,
        logger: Logger,
        configure: @escaping @Sendable (Int, inout EventServerConfiguration) -> Void
    ) {
        self.layout = layout
        self.directory = directory
        self.logger = logger
        self.configure = configure
        let nodes = (0..<count).map { index in
            Node(
                index: index,
                server: MeshServer(
                    name: "node\(index + 1)",
                    id: "\(index + 1)",
                    authKey: MeshFiles.newAuthKey(),
                    peerHost: "127.0.0.1",
                    peerPort: 0,
                    clientHost: "127.0.0.1",
                    clientPort: 0
                ),
                router: EventRouter()
            )
        }
        state = Mutex(State(nodes: nodes, links: layout.links(count: count)))
        (startRequests, starts) = AsyncStream.makeStream()
    }

    /// Notes what server `index`'s mesh reported and wakes the waiters it satisfies.
    private func record(_ index: Int, _ event: MeshEvent) {
        let ready = state.withLock { state -> [AsyncStream<Void>.Continuation] in
            switch event {
            case .linkUp(let peer): state.observations.linked[index, default: []].insert(peer)
            case .linkDown(let peer):
                state.observations.linked[index, default: []].remove(peer)
                state.observations.peerLeases[index] = state.observations.peerLeases[index, default: []].filter {
                    !$0.hasPrefix("\(peer) ")
                }
            case .granted(let peer, let identifier):
                state.observations.peerLeases[index, default: []].insert("\(peer) \(identifier)")
            case .released(let peer, let identifier):
                state.observations.peerLeases[index, default: []].remove("\(peer) \(identifier)")
            case .refused(_, let reason): state.observations.refusals[index, default: []].append(reason)
            case .configured: break
            }
            let observations = state.observations
            let (met, waiting) = state.waiters.reduce(into: ([Waiter](), [Waiter]())) {
                $1.condition(observations) ? $0.0.append($1) : $0.1.append($1)
            }
            state.waiters = waiting
            return met.map(\.signal)
        }
        for signal in ready {
            signal.yield()
            signal.finish()
        }
    }

    /// What has been reported so far.
    public var observations: Observations { state.withLock { $0.observations } }

    /// Waits until `condition` holds for the observations (returns at once if it does already).
    /// Cancellation ends the wait.
    public func waitUntil(_ condition: @escaping @Sendable (Observations) -> Bool) async {
        let (stream, signal) = AsyncStream.makeStream(of: Void.self)
        let holds = state.withLock { state -> Bool in
            if condition(state.observations) { return true }
            state.waiters.append(Waiter(condition: condition, signal: signal))
            return false
        }
        if holds { return }
        for await _ in stream { return }
    }

    /// Waits until every link of the layout between running servers is up (in a full mesh,
    /// every running server linked to every other).
    public func waitForFullMesh() async {
        let nodes = self.nodes.filter { $0.running != nil }
        let running = Set(nodes.map(\.index))
        let ids = Dictionary(uniqueKeysWithValues: nodes.map { ($0.index, $0.server.id) })
        let links = self.links.filter { running.contains($0.lower) && running.contains($0.upper) }
        await waitUntil { $0.linked(links, ids: ids) }
    }

    /// The links the file lists now.
    public var links: Set<MeshLink> { state.withLock { $0.links } }

    /// IDs by server index.
    public var ids: [Int: String] { Dictionary(uniqueKeysWithValues: nodes.map { ($0.index, $0.server.id) }) }

    /// Cuts `link`: the file no longer lists it, both ends read it again and close the link.
    /// Returns once both report it down.
    public func cut(_ link: MeshLink) async throws {
        state.withLock { _ = $0.links.remove(link) }
        try writeLeasePeerFile()
        for index in [link.lower, link.upper] { nodes[index].running?.server.reloadPeerConfiguration() }
        let ids = self.ids
        await waitUntil { $0.unlinked(link, ids: ids) }
    }

    /// Restores `link`: the file lists it again and both ends read it; returns once it is up.
    public func restore(_ link: MeshLink) async throws {
        state.withLock { _ = $0.links.insert(link) }
        try writeLeasePeerFile()
        for index in [link.lower, link.upper] { nodes[index].running?.server.reloadPeerConfiguration() }
        let ids = self.ids
        await waitUntil { $0.linked([link], ids: ids) }
    }

    /// Waits until an event on `interest` published on any of `publishers` can reach each of
    /// `subscribers` along the leases the servers hold for each other (one hop in a full mesh).
    public func waitForRoutes(_ interest: Interest, from publishers: [Int], to subscribers: [Int]) async {
        let identifier = interest.peerLeaseIdentifier
        let ids = self.ids
        let oneHop = layout.isFull
        await waitUntil { observations in
            publishers.allSatisfy { from in
                subscribers.allSatisfy { observations.routes(identifier, from: from, to: $0, ids: ids, oneHop: oneHop) }
            }
        }
    }

    /// Waits until server `index`'s peers with the given IDs hold `interest` for it.
    public func waitForPeerLease(on index: Int, from peerIDs: [String], _ interest: Interest) async {
        let identifier = interest.peerLeaseIdentifier
        await waitUntil { observations in
            peerIDs.allSatisfy { observations.peerLeases[index, default: []].contains("\($0) \(identifier)") }
        }
    }

    /// Waits until none of server `index`'s peers holds `interest` for it.
    public func waitForPeerRelease(on index: Int, _ interest: Interest) async {
        let identifier = interest.peerLeaseIdentifier
        await waitUntil { observations in
            !observations.peerLeases[index, default: []].contains { $0.hasSuffix(" \(identifier)") }
        }
    }

    /// Path of the shared `LeasePeer.xml`.
    public var leasePeerFile: String { (directory as NSString).appendingPathComponent("LeasePeer.xml") }

    /// The servers now.
    public var nodes: [Node] { state.withLock { $0.nodes } }

    /// Runs `count` servers meshed together for the duration of `body`; they stop when it ends.
    ///
    /// - Parameters:
    ///   - directory: where `LeasePeer.xml` is written (created if missing).
    ///   - configure: adjusts server `index`'s configuration before it starts.
    ///   - initially: how many servers start at once (the rest wait for ``start(_:)``); all by default.
    ///   - layout: which servers link with which (a full mesh by default).
    public static func run<Result: Sendable>(
        servers count: Int,
        layout: MeshLayout = .full,
        initially: Int? = nil,
        directory: String,
        logger: Logger,
        configure: @escaping @Sendable (_ index: Int, inout EventServerConfiguration) -> Void = { _, _ in },
        _ body: (LocalMesh) async throws -> Result
    ) async throws -> Result {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mesh = LocalMesh(count: count, layout: layout, directory: directory, logger: logger, configure: configure)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                await withDiscardingTaskGroup { servers in
                    for await (group, finished) in mesh.startRequests {
                        servers.addTask {
                            defer { finished.finish() }
                            try? await group.run()
                        }
                    }
                }
            }
            let result: Result
            do {
                try mesh.writeLeasePeerFile()
                for index in 0..<min(count, initially ?? count) { try await mesh.start(index, reload: false) }
                try mesh.writeLeasePeerFile()
                for node in mesh.nodes { node.running?.server.reloadPeerConfiguration() }
                result = try await body(mesh)
            } catch {
                await mesh.stopAll()
                throw error
            }
            await mesh.stopAll()
            return result
        }
    }

    /// Starts server `index` (on its former ports if it ran before) and has the others read the
    /// file again.
    public func start(_ index: Int) async throws { try await start(index, reload: true) }

    private func start(_ index: Int, reload: Bool) async throws {
        let node = nodes[index]
        var configuration = EventServerConfiguration.loopback(serverName: node.server.name)
        configuration.clientPort = node.server.clientPort
        configuration.peer.port = node.server.peerPort
        configuration.peer.configurationURL = leasePeerFile
        configuration.peer.reconnectMinimumSeconds = 0.05
        configuration.peer.reconnectMaximumSeconds = 1
        configure(index, &configuration)
        let (ports, portSink) = AsyncStream.makeStream(of: (EventServer.Listener, Int).self)
        let server = EventServer(
            configuration: configuration,
            router: node.router,
            logger: logger,
            onMeshEvent: { [weak self] in self?.record(index, $0) }
        ) { listener, address in
            portSink.yield((listener, address.port ?? 0))
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let (finished, finishedSink) = AsyncStream.makeStream(of: Void.self)
        starts.yield((group, finishedSink))
        let bound = await BoundPorts.awaitAll(ports, withLeasePeer: true)
        guard let client = bound.client, let peer = bound.leasePeer else { throw EventServerStartError() }
        state.withLock { state in
            state.nodes[index].server.clientPort = client
            state.nodes[index].server.peerPort = peer
            state.nodes[index].running = RunningEventServer(server: server, ports: bound)
            state.runners[index] = Runner(group: group, finished: finished)
        }
        if reload {
            try writeLeasePeerFile()
            for node in nodes { node.running?.server.reloadPeerConfiguration() }
        }
    }

    /// Stops server `index` gracefully and waits until it has.
    public func stop(_ index: Int) async {
        let runner = state.withLock { state -> Runner? in
            state.nodes[index].running = nil
            return state.runners.removeValue(forKey: index)
        }
        guard let runner else { return }
        await runner.group.triggerGracefulShutdown()
        for await _ in runner.finished {}
    }

    private func stopAll() async {
        for index in 0..<nodes.count { await stop(index) }
        starts.finish()
    }

    /// Writes the layout's `LeasePeer.xml` with the links in effect (servers not yet bound are
    /// listed with their keys only).
    public func writeLeasePeerFile() throws {
        let servers = nodes.map(\.server)
        let boundIndices = servers.indices.filter { servers[$0].peerPort != 0 }
        let bound = boundIndices.map { servers[$0] }
        let position = Dictionary(uniqueKeysWithValues: boundIndices.enumerated().map { ($1, $0) })
        let links = Set(
            self.links.compactMap { link in
                position[link.lower].flatMap { lower in position[link.upper].map { MeshLink(lower, $0) } }
            }
        )
        var xml = MeshFiles.leasePeerXML(bound, links: links)
        for server in servers where server.peerPort == 0 {
            xml = xml.replacingOccurrences(
                of: "</leasePeer>",
                with:
                    "  <\(server.name)><ID>\(server.id)</ID><authKey>\(server.authKey)</authKey></\(server.name)>\n</leasePeer>"
            )
        }
        try xml.write(toFile: leasePeerFile, atomically: true, encoding: .utf8)
    }

    /// The clients' server list of the running servers.
    public var jClientXML: String { MeshFiles.jClientXML(nodes.filter { $0.running != nil }.map(\.server)) }
}
