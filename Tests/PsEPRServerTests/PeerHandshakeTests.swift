import Logging
import NIOCore
import NIOEmbedded
import PsEPRCore
import Synchronization
import Testing

@testable import PsEPRServer

/// The LeasePeer handshake as a pure machine: two machines talk by handing each other's
/// messages across, with no channel and no clock.
@Suite struct PeerHandshakeTests {
    static let one = PeerEntry(id: "1", authKey: "key-one", host: "a.example", port: 23341)
    static let two = PeerEntry(id: "2", authKey: "key-two", host: "b.example", port: 23341)

    /// What server `own` knows: its own key and its peers' keys as its file gives them.
    static func configuration(_ own: PeerEntry, peers: [PeerEntry]) -> PeerConfiguration {
        PeerConfiguration(ownID: own.id, ownAuthKey: own.authKey, peers: peers)
    }

    static func message(_ action: PeerHandshake.Action) throws -> PeerMessage {
        guard case .send(let message) = action else { throw HandshakeFailure("expected a message, got \(action)") }
        return message
    }

    struct HandshakeFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs a whole handshake between a dialler and an acceptor; returns both sides' last actions.
    static func run(
        dialler: PeerConfiguration,
        acceptor: PeerConfiguration,
        expecting expectedID: String = "2"
    ) throws -> (dialler: PeerHandshake.Action?, acceptor: PeerHandshake.Action?) {
        var dialling = PeerHandshake(direction: .dialled(expectedID: expectedID))
        var accepting = PeerHandshake(direction: .accepted)
        let diallerHello = try message(dialling.start(dialler, hostname: "a.example"))
        let acceptorHello = try message(accepting.start(acceptor, hostname: "b.example"))
        let diallerAnswer = dialling.receive(acceptorHello, dialler)
        let acceptorAnswer = accepting.receive(diallerHello, acceptor)
        guard case .send(let diallerAuth)? = diallerAnswer, case .send(let acceptorAuth)? = acceptorAnswer else {
            return (diallerAnswer, acceptorAnswer)
        }
        return (dialling.receive(acceptorAuth, dialler), accepting.receive(diallerAuth, acceptor))
    }

    @Test func peersWithEachOthersKeysEstablishTheLink() throws {
        let result = try Self.run(
            dialler: Self.configuration(Self.one, peers: [Self.two]),
            acceptor: Self.configuration(Self.two, peers: [Self.one])
        )
        #expect(result.dialler == .establish(Self.two))
        #expect(result.acceptor == .establish(Self.one))
    }

    @Test func aPeerWithoutTheKeyIsRefusedByName() throws {
        var impostor = Self.one
        impostor.authKey = "guessed"
        let result = try Self.run(
            dialler: Self.configuration(impostor, peers: [Self.two]),
            acceptor: Self.configuration(Self.two, peers: [Self.one])
        )
        #expect(
            result.acceptor == .refuse(reason: "peer 1 does not hold the authKey this server has for it", peer: "1")
        )
        // The impostor itself checks the real server's proof against the key it has: that passes.
        #expect(result.dialler == .establish(Self.two))
    }

    @Test func aDiallerReachingAnotherIDRefuses() throws {
        let result = try Self.run(
            dialler: Self.configuration(Self.one, peers: [Self.two]),
            acceptor: Self.configuration(Self.two, peers: [Self.one]),
            expecting: "3"
        )
        #expect(result.dialler == .refuse(reason: "expected the peer with ID 3, reached ID 2", peer: "3"))
    }

    @Test func anIDMissingFromThePeerListIsRefused() throws {
        let result = try Self.run(
            dialler: Self.configuration(Self.one, peers: [Self.two]),
            acceptor: Self.configuration(Self.two, peers: [])
        )
        #expect(result.acceptor == .refuse(reason: "ID 1 (a.example) is not in this server's peer list", peer: "1"))
    }

    @Test func messagesOutOfOrderAreRefused() throws {
        var accepting = PeerHandshake(direction: .accepted)
        let configuration = Self.configuration(Self.two, peers: [Self.one])
        _ = accepting.start(configuration, hostname: "b.example")
        #expect(accepting.receive(.auth(proof: "00"), configuration) == .refuse(reason: "expected <hello>", peer: nil))
        #expect(
            accepting.receive(.hello(id: "1", host: "a", nonce: "n"), configuration) == nil,
            "a refused link takes nothing more"
        )

        var waitingForAuth = PeerHandshake(direction: .accepted)
        _ = waitingForAuth.start(configuration, hostname: "b.example")
        _ = waitingForAuth.receive(.hello(id: "1", host: "a", nonce: "n"), configuration)
        #expect(waitingForAuth.receive(.ping, configuration) == .refuse(reason: "expected <auth>", peer: "1"))
    }

    @Test func aServerMissingFromItsOwnFileRefusesAtOnce() {
        var handshake = PeerHandshake(direction: .accepted)
        let action = handshake.start(PeerConfiguration(peers: [Self.one]), hostname: "b.example")
        guard case .refuse(let reason, nil) = action else {
            Issue.record("expected a refusal, got \(action)")
            return
        }
        #expect(reason.contains("not in the LeasePeer file"))
    }

    /// A proof answers one link's nonce: replayed on a link with a fresh nonce it fails.
    @Test func aProofFromAnotherLinkDoesNotPass() throws {
        let acceptor = Self.configuration(Self.two, peers: [Self.one])
        var first = PeerHandshake(direction: .accepted, ownNonce: "aa")
        _ = first.start(acceptor, hostname: "b.example")
        _ = first.receive(.hello(id: "1", host: "a", nonce: "bb"), acceptor)
        let recorded = PeerHandshake.proof(
            authKey: Self.one.authKey,
            senderID: "1",
            receiverID: "2",
            receiverNonce: "aa",
            senderNonce: "bb"
        )
        #expect(first.receive(.auth(proof: recorded), acceptor) == .establish(Self.one))

        var second = PeerHandshake(direction: .accepted, ownNonce: "cc")
        _ = second.start(acceptor, hostname: "b.example")
        _ = second.receive(.hello(id: "1", host: "a", nonce: "bb"), acceptor)
        #expect(
            second.receive(.auth(proof: recorded), acceptor)
                == .refuse(reason: "peer 1 does not hold the authKey this server has for it", peer: "1")
        )
    }
}

/// The handshake inside the real link pipeline (idle timer, read gate, framer, link handler) on
/// two `EmbeddedChannel`s whose bytes a test carries across: no sockets, no event-loop threads.
@Suite struct PeerLinkPipelineTests {
    /// What a side's mesh reported.
    final class MeshEvents: Sendable {
        private let list = Mutex<[MeshEvent]>([])
        func append(_ event: MeshEvent) { list.withLock { $0.append(event) } }
        var all: [MeshEvent] { list.withLock { $0 } }
    }

    final class Side {
        let channel = EmbeddedChannel()
        let events = MeshEvents()
        let mesh: PeerMesh
        let established: EventLoopPromise<Void>

        init(own: PeerEntry, peers: [PeerEntry], direction: PeerHandshake.Direction) throws {
            var configuration = EventServerConfiguration.loopback(serverName: own.host)
            configuration.peer.configurationURL = "unused"
            let events = self.events
            mesh = PeerMesh(configuration: configuration, router: EventRouter(), logger: Logger(label: "psepr.test")) {
                event in
                events.append(event)
            }
            mesh.apply(PeerHandshakeTests.configuration(own, peers: peers), source: "test")
            established = channel.eventLoop.makePromise()
            try LeasePeerService.addHandlers(
                to: channel,
                mesh: mesh,
                keepAlive: 30,
                direction: direction,
                established: established
            )
        }
    }

    /// Carries each side's written bytes to the other until neither writes more; bounded.
    static func exchange(_ a: Side, _ b: Side) throws {
        for _ in 0..<20 {
            var moved = false
            for (from, to) in [(a, b), (b, a)] {
                (from.channel.eventLoop as! EmbeddedEventLoop).run()
                while let bytes = try from.channel.readOutbound(as: ByteBuffer.self) {
                    moved = true
                    if to.channel.isActive { try to.channel.writeInbound(bytes) }
                }
            }
            if !moved { return }
        }
    }

    static func linkUp(_ dialler: Side, _ acceptor: Side) throws {
        for side in [dialler, acceptor] {
            try side.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 23341)).wait()
        }
        try exchange(dialler, acceptor)
    }

    @Test func theHandshakeBringsBothEndsUp() throws {
        let one = PeerHandshakeTests.one
        let two = PeerHandshakeTests.two
        let dialler = try Side(own: one, peers: [two], direction: .dialled(expectedID: "2"))
        let acceptor = try Side(own: two, peers: [one], direction: .accepted)
        try Self.linkUp(dialler, acceptor)
        #expect(dialler.events.all.contains(.linkUp(peer: "2")))
        #expect(acceptor.events.all.contains(.linkUp(peer: "1")))
        try dialler.established.futureResult.wait()
        try acceptor.established.futureResult.wait()
        #expect(dialler.mesh.linkedPeers == ["2"])
        #expect(acceptor.mesh.linkedPeers == ["1"])
    }

    @Test func aWrongKeyClosesTheLinkWithTheReasonOnBothEnds() throws {
        var impostor = PeerHandshakeTests.one
        impostor.authKey = "guessed"
        let dialler = try Side(own: impostor, peers: [PeerHandshakeTests.two], direction: .dialled(expectedID: "2"))
        let acceptor = try Side(own: PeerHandshakeTests.two, peers: [PeerHandshakeTests.one], direction: .accepted)
        try Self.linkUp(dialler, acceptor)
        let reason = "peer 1 does not hold the authKey this server has for it"
        #expect(acceptor.events.all.contains(.refused(peer: "1", reason: reason)))
        // The impostor checked the real server's proof with the real key, so its side came up;
        // the refusal takes it down again.
        #expect(dialler.events.all.suffix(2) == [.linkUp(peer: "2"), .linkDown(peer: "2")])
        #expect(!acceptor.channel.isActive)
        #expect(!dialler.channel.isActive)
        #expect(throws: PeerLinkError.self) { try acceptor.established.futureResult.wait() }
        #expect(acceptor.mesh.linkedPeers.isEmpty)
    }
}
