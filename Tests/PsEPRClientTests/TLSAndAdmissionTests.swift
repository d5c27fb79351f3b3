import DP5Server
import Foundation
import Logging
import NIOCore
import NIOPosix
import PsEPRClient
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRServer
import PsEPRTesting
import Synchronization
import Testing

/// STARTTLS on the client port, TLS on peer links, and the caps on unauthenticated connections,
/// over loopback.
@Suite(.serialized) struct TLSAndAdmissionTests {
    /// A self-signed certificate valid for localhost, 127.0.0.1 and test.psepr, in a fresh directory.
    static func certificate() throws -> (directory: String, certificate: String, key: String) {
        let directory = MeshTests.temporaryDirectory()
        let (certificate, key) = try SelfSignedCertificate.write(to: directory, hosts: ["test.psepr"])
        return (directory, certificate, key)
    }

    static func tlsOptions(trust: String, mode: ClientTLSOptions.Mode = .required) -> EventClient.Options {
        var options = fastOptions()
        options.tls = ClientTLSOptions(mode: mode, trustCertificatePath: trust)
        return options
    }

    @Test func startTLSWithVerificationCarriesLeasesAndEvents() async throws {
        let files = try Self.certificate()
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        try await withEventServer(configure: {
            $0.tls = TLSSettings(certificateFile: files.certificate, keyFile: files.key, required: true)
        }) { port, _, _ in
            // "localhost": the certificate is checked against the name dialled.
            let server = ServerAddress(host: "localhost", port: port)
            try await EventClient.withClient(
                identity: identity("secure"),
                servers: [server],
                options: Self.tlsOptions(trust: files.certificate)
            ) { client in
                let lease = try await client.lease(ChannelName("/secure/"))
                #expect(await lease.settled().isActive)
                try await client.send(
                    Event(channel: ChannelName("/secure/"), attribute: AttributePayload(field: "f", value: "over TLS"))
                )
                #expect(try await lease.next(1).map { try AttributePayload(payload: $0.payload).value } == ["over TLS"])
            }
        }
    }

    @Test func aCertificateThatIsNotTrustedFailsTheLogin() async throws {
        let files = try Self.certificate()
        let other = try Self.certificate()
        defer {
            try? FileManager.default.removeItem(atPath: files.directory)
            try? FileManager.default.removeItem(atPath: other.directory)
        }
        try await withEventServer(configure: {
            $0.tls = TLSSettings(certificateFile: files.certificate, keyFile: files.key)
        }) { port, _, _ in
            var options = Self.tlsOptions(trust: other.certificate, mode: .whenOffered)
            options.giveUpAfter = .milliseconds(500)
            do {
                _ = try await EventClient.withClient(
                    identity: identity("wary"),
                    servers: [ServerAddress(host: "localhost", port: port)],
                    options: options
                ) { _ in
                    Issue.record("logged in over a certificate nobody trusts")
                }
            } catch EventClient.ClientError.unreachable(_, let lastError) {
                #expect(lastError.hasSuffix("TLS failed: the server's certificate is not trusted"), "\(lastError)")
            }
        }
    }

    @Test func aServerRequiringTLSRefusesPlainLoginsSayingWhy() async throws {
        let files = try Self.certificate()
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        try await withEventServer(configure: {
            $0.tls = TLSSettings(certificateFile: files.certificate, keyFile: files.key, required: true)
        }) { port, _, _ in
            var options = fastOptions()
            options.tls.mode = .disabled
            options.giveUpAfter = .milliseconds(300)
            do {
                _ = try await EventClient.withClient(
                    identity: identity("plain"),
                    servers: [ServerAddress(host: "127.0.0.1", port: port)],
                    options: options
                ) { _ in
                    Issue.record("a plain login was accepted")
                }
            } catch EventClient.ClientError.unreachable(_, let lastError) {
                #expect(lastError.contains("requires TLS"), "\(lastError)")
            }
        }
    }

    @Test(.enabled(if: XMPPLibraryTests.available("slixmpp"), "python3 with slixmpp (pip install slixmpp)"))
    func slixmppNegotiatesSTARTTLSAndVerifiesTheCertificate() async throws {
        let files = try Self.certificate()
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        try await withEventServer(configure: {
            $0.tls = TLSSettings(certificateFile: files.certificate, keyFile: files.key, required: true)
        }) { port, _, _ in
            let outcome = try await within(seconds: 60, "the slixmpp client") {
                try XMPPLibraryTests.run([
                    XMPPLibraryTests.slixmppScript, "127.0.0.1", "\(port)", "test.psepr", "tls_user", "pw",
                    files.certificate,
                ])
            }
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(outcome.output.hasPrefix("OK logged in as tls_user@test.psepr/slixmpp"), "\(outcome.output)")
        }
    }

    @Test func peerLinksRunOverTLS() async throws {
        let files = try Self.certificate()
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        let settings = TLSSettings(
            certificateFile: files.certificate,
            keyFile: files.key,
            trustCertificateFile: files.certificate
        )
        let directory = MeshTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "psepr.mesh.test")
        logger.logLevel = .warning
        try await LocalMesh.run(
            servers: 2,
            directory: directory,
            logger: logger,
            configure: { _, configuration in configuration.tls = settings }
        ) { mesh in
            try await within(seconds: 20, "the mesh links up over TLS") { await mesh.waitForFullMesh() }
            // A peer speaking in the clear gets no stream from the peer port, only the end of the connection.
            let plain = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: mesh.nodes[0].server.peerPort) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            let answer = try await within(seconds: 10, "the peer port closes a plain connection") {
                try await plain.executeThenClose { inbound, outbound in
                    try await outbound.write(
                        ByteBuffer(
                            string:
                                "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
                        )
                    )
                    var text = ""
                    for try await chunk in inbound { text += String(buffer: chunk) }
                    return text
                }
            }
            #expect(!answer.contains("<stream"))
            // The client ports offer STARTTLS with the same certificate.
            let options = Self.tlsOptions(trust: files.certificate)
            try await EventClient.withClient(
                identity: identity("sub"),
                servers: [MeshTests.address(mesh, 0)],
                options: options
            ) { subscriber in
                let lease = try await subscriber.lease(ChannelName("/meshed/"))
                #expect(await lease.settled().isActive)
                try await within(seconds: 10, "B holds A's lease") {
                    await mesh.waitForPeerLease(
                        on: 0,
                        from: [mesh.nodes[1].server.id],
                        Interest(channel: try ChannelName("/meshed/"), namespace: nil)
                    )
                }
                try await EventClient.withClient(
                    identity: identity("pub"),
                    servers: [MeshTests.address(mesh, 1)],
                    options: options
                ) { publisher in
                    try await publisher.send(MeshTests.event("/meshed/", "across"))
                    #expect(MeshTests.values(try await lease.next(1)) == ["across"])
                }
            }
        }
    }

    @Test func aThousandIdleConnectionsOnThePeerPortDoNotStopAClientLogin() async throws {
        let directory = MeshTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "psepr.mesh.test")
        logger.logLevel = .warning
        let cap = 50
        try await LocalMesh.run(
            servers: 1,
            directory: directory,
            logger: logger,
            configure: { _, configuration in configuration.maximumUnauthenticatedConnections = cap }
        ) { mesh in
            let peerPort = mesh.nodes[0].server.peerPort
            let closedByServer = Atomic(0)
            var idle: [any Channel] = []
            for _ in 0..<1000 {
                // Connect and say nothing, as the flood did.
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(
                    host: "127.0.0.1",
                    port: peerPort
                ).get()
                channel.closeFuture.whenComplete { _ in closedByServer.add(1, ordering: .relaxed) }
                idle.append(channel)
            }
            defer { for channel in idle { channel.close(promise: nil) } }
            // The server keeps at most `cap` of them; the rest were closed to make room.
            try await eventually(seconds: 20, "the server closes the idle connections beyond its cap") {
                closedByServer.load(ordering: .relaxed) >= 1000 - cap
            }
            try await EventClient.withClient(
                identity: identity("client"),
                servers: [MeshTests.address(mesh, 0)],
                options: fastOptions()
            ) { client in
                let lease = try await client.lease(ChannelName("/still/"))
                #expect(await lease.settled().isActive)
            }
        }
    }
}
