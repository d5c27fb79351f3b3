import NIOCore
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRTesting
import Testing

@testable import PsEPRServer

@Suite("PsEPR server over loopback", .serialized)
struct EventServerTests {
    @Test func storkClientLogsInLeasesAndReceives() async throws {
        try await withEventServer { port, _, _ in
            let stork = try await LoadConnection.open(port: port)
            var inbound = stork.inbound.makeAsyncIterator()
            // One step per received chunk, exactly as the Stork client does.
            try await stork.send(Stork.header)
            let header = try await inbound.chunk()
            #expect(
                header.contains("<stream:stream") && header.contains("features/iq-auth")
                    && header.hasSuffix("</stream:features>")
            )
            try await stork.send(Stork.authGet)
            #expect(
                try await inbound.chunk()
                    == "<iq type='result' id='logon_1'><query xmlns='jabber:iq:auth'><username>arizona_stork2</username><password/><resource/></query></iq>"
            )
            try await stork.send(Stork.authSet)
            #expect(try await inbound.chunk() == "<iq type='result' id='logon_2'/>")
            try await stork.send(Stork.lease)
            let grant = try await inbound.read(until: "</message>")
            #expect(
                grant.contains("<identifier>arizona_stork2-8812</identifier>")
                    && grant.contains("<duration>1800</duration>") && grant.contains("<op>lease</op>")
            )
            #expect(grant.contains("<channel>/edu/arizona/stork2/psepr/</channel>"))

            // Another Stork sends an event below the leased channel; the payload arrives byte for byte.
            let sender = try await LoadConnection.open(port: port)
            var senderInbound = sender.inbound.makeAsyncIterator()
            try await sender.send(Stork.header)
            _ = try await senderInbound.chunk()
            try await sender.send(Stork.authSet)
            _ = try await senderInbound.chunk()
            try await sender.send(Stork.eventBelowLease)
            let delivered = try await inbound.read(until: "</message>")
            #expect(delivered.contains(Stork.payload))
            #expect(delivered.contains("<channel>/edu/arizona/stork2/psepr/nodes/</channel>"))
            #expect(delivered.contains("<instance>planetlab3.cs.arizona.edu/list/nodes/</instance>"))
        }
    }

    @Test func leasesFiltersAndRelease() async throws {
        try await withEventServer { port, _, _ in
            var (_, subscriber, subscriberOut) = try await loggedIn(port: port, service: "sub")
            try await subscriberOut.write(ByteBuffer(string: leaseStanza("/x/", identifier: "all")))
            _ = try await subscriber.read(until: "<op>lease</op>")
            try await subscriberOut.write(
                ByteBuffer(string: leaseStanza("/typed/", identifier: "typed", type: "urn:wanted"))
            )
            _ = try await subscriber.read(until: "<op>lease</op>")
            let (_, _, publisher) = try await loggedIn(port: port, service: "pub")

            // Not below /x/, and the wrong namespace on /typed/, then two that match.
            try await publisher.write(ByteBuffer(string: eventStanza("/xy/", body: "no-1")))
            try await publisher.write(ByteBuffer(string: eventStanza("/typed/", body: "no-2", namespace: "urn:other")))
            try await publisher.write(ByteBuffer(string: eventStanza("/x/deep/er/", body: "yes-1")))
            try await publisher.write(
                ByteBuffer(string: eventStanza("/typed/", body: "yes-2", namespace: "URN:WANTED"))
            )
            try await publisher.write(ByteBuffer(string: eventStanza("/x/", body: "no-3", toService: "someone-else")))
            try await publisher.write(ByteBuffer(string: eventStanza("/x/", body: "yes-3", toService: "SUB")))
            let text = try await subscriber.read(until: "yes-3")
            #expect(text.contains("yes-1") && text.contains("yes-2"))
            #expect(!text.contains("no-"))

            // After unregister, /x/ is silent; /typed/ still works and marks the point in the stream.
            try await subscriberOut.write(ByteBuffer(string: leaseStanza("/x/", identifier: "all", op: "unregister")))
            try await subscriberOut.write(
                ByteBuffer(string: leaseStanza("/typed/", identifier: "typed", type: "urn:wanted"))
            )
            _ = try await subscriber.read(until: "<op>lease</op>")
            try await publisher.write(ByteBuffer(string: eventStanza("/x/", body: "no-4")))
            try await publisher.write(
                ByteBuffer(string: eventStanza("/typed/", body: "marker", namespace: "urn:wanted"))
            )
            #expect(!(try await subscriber.read(until: "marker")).contains("no-4"))
        }
    }

    @Test func expiredLeasesStopDeliveryAndRenewalKeepsThem() async throws {
        let time = ManualTime()
        try await withEventServer(router: EventRouter(now: { time.now })) { port, _, router in
            var (_, subscriber, out) = try await loggedIn(port: port)
            try await out.write(ByteBuffer(string: leaseStanza("/short/", identifier: "s", duration: 30)))
            try await out.write(ByteBuffer(string: leaseStanza("/long/", identifier: "l", duration: 3000)))
            _ = try await subscriber.read(until: "<identifier>l</identifier>")
            let (_, _, publisher) = try await loggedIn(port: port, service: "pub")

            time.advance(seconds: 20)
            try await out.write(ByteBuffer(string: leaseStanza("/short/", identifier: "s", duration: 30)))  // renew
            _ = try await subscriber.read(until: "<op>lease</op>")
            time.advance(seconds: 20)
            try await publisher.write(ByteBuffer(string: eventStanza("/short/", body: "renewed")))
            _ = try await subscriber.read(until: "renewed")

            time.advance(seconds: 31)
            try await publisher.write(ByteBuffer(string: eventStanza("/short/", body: "expired")))
            try await publisher.write(ByteBuffer(string: eventStanza("/long/", body: "marker")))
            #expect(!(try await subscriber.read(until: "marker")).contains("expired"))
            // The server's own sweep may already have run; either way only the long lease remains.
            router.removeExpiredLeases()
            #expect(router.leaseIdentifiers == ["l"])
        }
    }

    @Test func badXMLClosesOnlyThatConnection() async throws {
        try await withEventServer { port, _, _ in
            var (_, subscriber, out) = try await loggedIn(port: port)
            try await out.write(ByteBuffer(string: leaseStanza("/ok/", identifier: "ok")))
            _ = try await subscriber.read(until: "<op>lease</op>")
            for poison in ["<!DOCTYPE x [<!ENTITY a 'aaaa'>]>", "<message>" + String(repeating: "x", count: 300_000)] {
                let (bad, _, badOut) = try await loggedIn(port: port, service: "bad")
                var badInbound = bad.inbound.makeAsyncIterator()
                try await badOut.write(ByteBuffer(string: poison))
                let reply = await badInbound.readToEnd()
                #expect(reply.contains("</stream:stream>"), "\(poison.prefix(30))")
            }
            // A stanza the framer can delimit but that is not well-formed is refused on its own.
            var (_, mismatchedInbound, mismatched) = try await loggedIn(port: port, service: "bad")
            try await mismatched.write(ByteBuffer(string: "<message id='m'><event></oops></message>"))
            let refusal = try await mismatchedInbound.read(until: "</message>")
            #expect(
                refusal.contains("bad-request") && refusal.contains("id='m'") && !refusal.contains("</stream:stream>"),
                "\(refusal)"
            )
            let (_, _, publisher) = try await loggedIn(port: port, service: "pub")
            try await publisher.write(ByteBuffer(string: eventStanza("/ok/", body: "still-served")))
            _ = try await subscriber.read(until: "still-served")
        }
    }

    @Test func malformedEventsGetAnErrorAndTheConnectionStays() async throws {
        try await withEventServer { port, _, _ in
            var (_, client, out) = try await loggedIn(port: port)
            try await out.write(
                ByteBuffer(
                    string:
                        "<message id='bad1'><event xmlns='http://psepr.org/xs/event'><to><channel>no-slashes</channel></to></event></message>"
                )
            )
            #expect(try await client.read(until: "</message>").contains("id='bad1'"))
            try await out.write(ByteBuffer(string: leaseStanza("/still/", identifier: "s")))
            _ = try await client.read(until: "<op>lease</op>")
        }
    }

    @Test func maximumConnectionsIsEnforced() async throws {
        try await withEventServer(configure: { $0.maximumConnections = 2 }) { port, _, _ in
            _ = try await loggedIn(port: port, service: "a")
            _ = try await loggedIn(port: port, service: "b")
            let third = try await LoadConnection.open(port: port)
            var inbound = third.inbound.makeAsyncIterator()
            try? await third.send(Stork.header)
            #expect(await inbound.readToEnd().isEmpty)
        }
    }

    @Test func aConnectionThatDoesNotLogInInTimeIsClosed() async throws {
        try await withEventServer(configure: { $0.authenticationTimeoutSeconds = 1 }) { port, _, _ in
            let client = try await LoadConnection.open(port: port)
            try await client.send(Stork.header)
            // The header's answer, then nothing until the server closes the connection.
            let received = try await within(seconds: 10, "the server to close a connection that did not log in") {
                var inbound = client.inbound.makeAsyncIterator()
                return await inbound.readToEnd()
            }
            #expect(received.contains("<stream:features>"))
        }
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withEventServer(configure: { $0.idleTimeoutSeconds = 1 }) { port, _, _ in
            let client = try await LoadConnection.open(port: port)
            try await within(seconds: 10, "the server to close an idle connection") {
                var inbound = client.inbound.makeAsyncIterator()
                try await client.send(Stork.header)
                _ = try await inbound.read(until: "</stream:features>")
                try await client.send(
                    "<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>svc</username><password>pw</password><resource>r</resource></query></iq>"
                )
                _ = try await inbound.read(until: "id='a1'")
                _ = await inbound.readToEnd()  // returns once the server has closed it
            }
        }
    }

    @Test func accountsAreEnforcedWhenConfigured() async throws {
        var accounts = AccountTable()
        accounts.set(service: "alice", password: "right")
        try await withEventServer(configure: { $0.accounts = accounts }) { port, _, _ in
            _ = try await loggedIn(port: port, service: "alice", password: "right")
            let client = try await LoadConnection.open(port: port)
            var inbound = client.inbound.makeAsyncIterator()
            try await client.send(Stork.header)
            _ = try await inbound.read(until: "</stream:features>")
            try await client.send(
                "<iq type='set' id='x'><query xmlns='jabber:iq:auth'><username>alice</username><password>wrong</password><resource>r</resource></query></iq>"
            )
            let reply = await inbound.readToEnd()
            #expect(
                reply.contains("type='error'") && reply.contains("not-authorized") && reply.contains("</stream:stream>")
            )
        }
    }

    @Test func oneEventIsRoutedWithItsAuthenticatedService() async throws {
        try await withEventServer { port, oneEventPort, _ in
            var (_, subscriber, out) = try await loggedIn(port: port)
            try await out.write(ByteBuffer(string: leaseStanza("/one/", identifier: "o")))
            _ = try await subscriber.read(until: "<op>lease</op>")
            let sender = try await LoadConnection.open(port: oneEventPort)
            var reply = sender.inbound.makeAsyncIterator()
            try await sender.send(
                "<inputEvent><authentication><passwordAuth><service>pusher</service><password>pw</password></passwordAuth></authentication>"
                    + "<oneEvent><event xmlns='http://psepr.org/xs/event'><to><channel>/one/two/</channel></to><from><service>liar</service><instance>h</instance></from>"
                    + "<payload xmlns='urn:one'><v>pushed</v></payload></event></oneEvent></inputEvent>"
            )
            #expect(await reply.readToEnd() == "<result>ok</result>\n")
            let delivered = try await subscriber.read(until: "pushed")
            #expect(delivered.contains("<service>pusher</service>"))
        }
    }
}
