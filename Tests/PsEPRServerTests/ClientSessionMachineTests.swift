import Foundation
import NIOCore
import PsEPRCore
import PsEPRTesting
import Synchronization
import Testing

@testable import PsEPRServer

/// The session machine on its own: the bytes of reads in, actions out.
@Suite struct ClientSessionMachineTests {
    /// Stream IDs s1, s2, … so headers can be compared.
    final class Counter: Sendable {
        private let count = Mutex(0)
        func id() -> String {
            let next = count.withLock { count in
                count += 1
                return count
            }
            return "s\(next)"
        }
    }

    static func machine(
        accounts: AccountTable? = nil,
        tls: ClientSessionMachine.TLSPolicy = .unavailable
    ) -> ClientSessionMachine {
        let counter = Counter()
        return ClientSessionMachine(serverName: "srv", accounts: accounts, tls: tls, makeStreamID: { counter.id() })
    }

    /// Records what the machine hands on, in order; routes as `.route` actions.
    final class Recorder: ClientSessionSink {
        var actions: [ClientSessionMachine.Action] = []
        /// The envelope number of each route, in order.
        var envelopes: [UInt64?] = []
        /// What `perform` answers: false once the connection is closing.
        var open = true

        func route(_ event: Event, envelope: UInt64?, forwarding element: ByteBuffer?) {
            actions.append(.route(event, forwarding: element))
            envelopes.append(envelope)
        }

        /// Records a run as the routes of its events, one by one.
        func route(_ event: Event, envelope: UInt64, forwardingRun buffer: ByteBuffer, elements: [Range<Int>]) {
            for element in elements {
                route(
                    event,
                    envelope: envelope,
                    forwarding: buffer.getSlice(at: buffer.readerIndex + element.lowerBound, length: element.count)
                )
            }
        }

        func perform(_ action: ClientSessionMachine.Action) -> Bool {
            actions.append(action)
            return open
        }

        /// Asked to pause once this many routes are recorded (nil: never).
        var pauseAfterRoutes: Int?

        func shouldPauseReading() -> Bool {
            guard let pauseAfterRoutes else { return false }
            return envelopes.count >= pauseAfterRoutes
        }

        /// What was recorded since the last call.
        func take() -> [ClientSessionMachine.Action] {
            defer { actions.removeAll() }
            return actions
        }
    }

    /// Feeds `text` to `machine` as one read; what it called for.
    static func feed(
        _ machine: inout ClientSessionMachine,
        _ text: String,
        into recorder: Recorder = Recorder()
    )
        -> [ClientSessionMachine.Action]
    {
        machine.read(ByteBuffer(string: text), into: recorder)
        return recorder.take()
    }

    static let header =
        "<?xml version='1.0'?><stream:stream to='srv' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

    static func plain(_ service: String, _ password: String, authzid: String = "") -> String {
        Data(Array(authzid.utf8) + [0] + Array(service.utf8) + [0] + Array(password.utf8)).base64EncodedString()
    }

    static func auth(_ text: String, mechanism: String = "PLAIN") -> String {
        ("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='\(mechanism)'>\(text)</auth>")
    }

    /// The text of every `send`, joined; the other actions as they are.
    static func sent(_ actions: [ClientSessionMachine.Action]) -> String {
        actions.map { action in
            if case .send(let bytes) = action { return String(decoding: bytes, as: UTF8.self) }
            return ""
        }.joined()
    }

    static var accounts: AccountTable {
        var table = AccountTable()
        table.set(service: "alice", password: "right", cost: .minimal)
        return table
    }

    @Test func saslPlainRestartBindAndSessionLeadToTheSameSessionAsLegacyLogin() {
        var machine = Self.machine(accounts: Self.accounts)
        let header = Self.sent(Self.feed(&machine, Self.header))
        #expect(header.contains("id='s1'"))
        #expect(
            header.contains(
                "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
            )
        )
        #expect(header.contains("<auth xmlns='http://jabber.org/features/iq-auth'/>"))
        #expect(!header.contains("starttls"))

        let success = Self.feed(&machine, Self.auth(Self.plain("alice", "right")))
        #expect(success == [.send(Array("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>".utf8))])
        #expect(machine.phase == .awaitingRestart(service: "alice"))

        // The restarted stream has a new ID and offers binding and an optional session.
        let restarted = Self.sent(Self.feed(&machine, Self.header))
        #expect(restarted.contains("id='s2'"))
        #expect(
            restarted.hasSuffix(
                "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"
            )
        )
        #expect(machine.phase == .awaitingBind(service: "alice"))
        #expect(!machine.isAuthenticated)

        // Events wait for the binding.
        let early = Self.sent(
            Self.feed(
                &machine,
                ("<message id='m'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><from/><payload xmlns='x'/></event></message>")
            )
        )
        #expect(early.contains("not-authorized") && early.contains("bind a resource"))

        let bound = Self.sent(
            Self.feed(
                &machine,
                ("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>laptop</resource></bind></iq>")
            )
        )
        #expect(
            bound
                == "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@srv/laptop</jid></bind></iq>"
        )
        #expect(machine.phase == .authenticated(service: "alice", instance: "laptop"))

        #expect(
            Self.sent(
                Self.feed(
                    &machine,
                    ("<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
                )
            ) == "<iq type='result' id='s'/>"
        )
        #expect(
            Self.sent(Self.feed(&machine, ("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")))
                == "<iq type='result' id='r'><query xmlns='jabber:iq:roster'/></iq>"
        )
        let event = Self.feed(
            &machine,
            ("<message id='m'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><from/><payload xmlns='x'/></event></message>")
        )
        guard case .route(let routed, _)? = event.first else {
            Issue.record("not routed: \(event)")
            return
        }
        #expect(routed.fromService == "alice" && routed.fromInstance == "laptop")
    }

    @Test func aBindWithoutAResourceGetsOneMadeUp() {
        var machine = Self.machine()
        _ = Self.feed(&machine, Self.header)
        _ = Self.feed(&machine, Self.auth(Self.plain("bob", "anything")))
        _ = Self.feed(&machine, Self.header)
        let bound = Self.sent(
            Self.feed(&machine, ("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"))
        )
        #expect(bound.contains("<jid>bob@srv/psepr-s3</jid>"))
        #expect(machine.phase == .authenticated(service: "bob", instance: "psepr-s3"))
    }

    @Test func plainWithoutAnInitialResponseAsksForIt() {
        var machine = Self.machine(accounts: Self.accounts)
        _ = Self.feed(&machine, Self.header)
        #expect(
            Self.feed(&machine, Self.auth("")) == [
                .send(Array("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>".utf8))
            ]
        )
        #expect(machine.phase == .awaitingSASLResponse)
        let answer = Self.feed(
            &machine,
            ("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(Self.plain("alice", "right", authzid: "alice@srv"))</response>")
        )
        #expect(answer.last == .send(Array("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>".utf8)))
        #expect(machine.phase == .awaitingRestart(service: "alice"))
    }

    @Test func refusedSASLLoginsSayWhyInTheLogAndNotToTheClient() {
        var machine = Self.machine(accounts: Self.accounts)
        _ = Self.feed(&machine, Self.header)
        let wrong = Self.feed(&machine, Self.auth(Self.plain("alice", "wrong")))
        #expect(wrong.first == .loginRefused(service: "alice", reason: "wrong password"))
        #expect(
            Self.sent(wrong)
                == "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>the service name or password was not accepted</text></failure>"
        )
        #expect(machine.phase == .awaitingAuthentication)
        let unknown = Self.feed(&machine, Self.auth(Self.plain("mallory", "x")))
        #expect(unknown.first == .loginRefused(service: "mallory", reason: "unknown account"))
        // The third refusal ends the stream.
        let third = Self.feed(&machine, Self.auth(Self.plain("alice", "again")))
        #expect(Self.sent(third).hasSuffix("</stream:stream>"))
        #expect(third.last == .close(reason: "3 refused logins"))
        #expect(machine.phase == .closed)
    }

    @Test func malformedSASLRequestsGetTheirConditions() {
        var machine = Self.machine()
        _ = Self.feed(&machine, Self.header)
        #expect(
            Self.sent(Self.feed(&machine, Self.auth("abc", mechanism: "DIGEST-MD5"))).contains("<invalid-mechanism/>")
        )
        #expect(Self.sent(Self.feed(&machine, Self.auth("!!not base64!!"))).contains("<incorrect-encoding/>"))
        #expect(
            Self.sent(Self.feed(&machine, Self.auth(Data("no-separators".utf8).base64EncodedString()))).contains(
                "<malformed-request/>"
            )
        )
        #expect(
            Self.sent(Self.feed(&machine, Self.auth(Self.plain("bob", "pw", authzid: "someone-else")))).contains(
                "<invalid-authzid/>"
            )
        )
        #expect(
            Self.sent(Self.feed(&machine, ("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"))).contains(
                "<aborted/>"
            )
        )
        #expect(machine.phase == .awaitingAuthentication)
    }

    @Test func legacyLoginRepliesAreUnchanged() {
        var machine = Self.machine()
        _ = Self.feed(&machine, Self.header)
        #expect(
            Self.sent(Self.feed(&machine, (Stork.authGet)))
                == "<iq type='result' id='logon_1'><query xmlns='jabber:iq:auth'><username>arizona_stork2</username><password/><resource/></query></iq>"
        )
        #expect(
            Self.feed(&machine, Stork.authSet) == [
                .send(Array("<iq type='result' id='logon_2'/>".utf8)), .loggedIn(service: "arizona_stork2"),
            ]
        )
        #expect(machine.phase == .authenticated(service: "arizona_stork2", instance: "Home"))
        // A roster request after the legacy login gets an empty roster too.
        #expect(
            Self.sent(Self.feed(&machine, ("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")))
                .contains("<query xmlns='jabber:iq:roster'/>")
        )
        #expect(
            Self.sent(Self.feed(&machine, ("<iq type='get' id='v'><query xmlns='jabber:iq:version'/></iq>")))
                .contains("service-unavailable")
        )
    }

    @Test func aWrongLegacyPasswordIsLoggedWithItsReason() {
        var machine = Self.machine(accounts: Self.accounts)
        _ = Self.feed(&machine, Self.header)
        let refused = Self.feed(
            &machine,
            ("<iq type='set' id='x'><query xmlns='jabber:iq:auth'><username>alice</username><password>nope</password></query></iq>")
        )
        #expect(refused.first == .loginRefused(service: "alice", reason: "wrong password"))
        #expect(
            Self.sent(refused)
                == "<iq type='error' id='x'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq></stream:stream>"
        )
        #expect(machine.phase == .closed)
    }

    @Test func requestsBeforeTheLoginAreRefusedNotIgnored() {
        var machine = Self.machine()
        _ = Self.feed(&machine, Self.header)
        #expect(
            Self.sent(Self.feed(&machine, ("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")))
                .contains("not-authorized")
        )
        #expect(
            Self.sent(
                Self.feed(
                    &machine,
                    ("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
                )
            ).contains("not-authorized")
        )
        #expect(Self.feed(&machine, ("<iq type='result' id='q'/>")).isEmpty)
    }

    @Test func startTLSIsOfferedWithACertificateAndRequiredWhenConfigured() {
        var offered = Self.machine(tls: .offered)
        let header = Self.sent(Self.feed(&offered, Self.header))
        #expect(header.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></starttls><mechanisms"))
        #expect(
            Self.feed(&offered, ("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")) == [
                .send(Array("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".utf8)), .startTLS,
            ]
        )
        #expect(offered.isEncrypted && offered.phase == .awaitingStream)
        // Inside TLS: a new stream, without STARTTLS.
        let inside = Self.sent(Self.feed(&offered, Self.header))
        #expect(!inside.contains("starttls") && inside.contains("<mechanism>PLAIN</mechanism>"))

        var required = Self.machine(tls: .required)
        let requiredHeader = Self.sent(Self.feed(&required, Self.header))
        #expect(
            requiredHeader.hasSuffix(
                "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
            )
        )
        let plainLogin = Self.feed(&required, (Stork.authSet))
        #expect(Self.sent(plainLogin).contains("policy-violation") && Self.sent(plainLogin).contains("requires TLS"))
        #expect(required.phase == .closed)

        var requiredSASL = Self.machine(tls: .required)
        _ = Self.feed(&requiredSASL, Self.header)
        #expect(Self.sent(Self.feed(&requiredSASL, Self.auth(Self.plain("a", "b")))).contains("<encryption-required/>"))

        var unavailable = Self.machine()
        _ = Self.feed(&unavailable, Self.header)
        let refused = Self.feed(&unavailable, ("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
        #expect(Self.sent(refused).hasPrefix("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
        #expect(unavailable.phase == .closed)
    }

    @Test func errorsToClientsAreInPlainWords() {
        var machine = Self.machine()
        _ = Self.feed(&machine, Self.header)
        _ = Self.feed(&machine, (Stork.authSet))
        let reply = Self.sent(
            Self.feed(
                &machine,
                ("<message id='bad'><event xmlns='http://psepr.org/xs/event'><to><channel>no-slashes</channel></to><from/><payload xmlns='x'/></event></message>")
            )
        )
        #expect(reply.contains("bad-request"))
        #expect(!reply.contains("PsEPRError"))
    }

    // MARK: Reads

    /// A machine logged in (legacy login) as `service`, instance `Home`.
    static func loggedIn(_ service: String = "arizona_stork2", accounts: AccountTable? = nil) -> ClientSessionMachine {
        var machine = Self.machine(accounts: accounts)
        _ = Self.feed(&machine, Self.header + Stork.authGet)
        _ = Self.feed(&machine, Stork.authSet)
        #expect(machine.isAuthenticated)
        return machine
    }

    /// The routes among `actions`: each event and its forwarded element's text.
    static func routes(_ actions: [ClientSessionMachine.Action]) -> [(event: Event, element: String?)] {
        actions.compactMap { action in
            guard case .route(let event, let element) = action else { return nil }
            return (event, element.map { String(buffer: $0) })
        }
    }

    @Test func theWholeLoginAndEventsInOneReadGetEveryReplyInOrder() {
        var machine = Self.machine()
        let actions = Self.feed(
            &machine,
            Self.header + Stork.authGet + Stork.authSet + eventStanza("/a/", body: "one")
                + leaseStanza("/a/", identifier: "l1") + eventStanza("/a/", body: "two")
                + leaseStanza("/a/", identifier: "l1", op: "unregister")
        )
        #expect(actions.count == 8, "\(actions)")
        #expect(Self.sent([actions[0]]).contains("<stream:features>"))
        #expect(Self.sent([actions[1]]).contains("id='logon_1'"))
        #expect(actions[2] == .send(Array("<iq type='result' id='logon_2'/>".utf8)))
        #expect(actions[3] == .loggedIn(service: "arizona_stork2"))
        guard case .route(let one, let oneElement?) = actions[4] else {
            Issue.record("not routed with its element: \(actions[4])")
            return
        }
        #expect(one.channel.rawValue == "/a/" && one.fromService == "pub" && one.fromInstance == "pub-1")
        #expect(String(buffer: oneElement).hasPrefix("<event xmlns='http://psepr.org/xs/event'>"))
        #expect(String(buffer: oneElement).hasSuffix("<v>one</v></payload></event>"))
        guard case .register(let lease, let channel, let service, let instance) = actions[5] else {
            Issue.record("not a lease: \(actions[5])")
            return
        }
        #expect(lease.identifier == "l1" && channel.rawValue == "/a/")
        #expect(service == "arizona_stork2" && instance == "Home")
        #expect(Self.routes([actions[6]]).first?.element?.contains("<v>two</v>") == true)
        #expect(actions[7] == .unregister(identifier: "l1"))
    }

    @Test func stanzasSplitAcrossReadsAtEveryByteGiveWhatOneReadGives() {
        let stream =
            eventStanza("/a/", body: "one") + "\n " + eventStanza("/a/b/", body: "two")
            + "<presence/>" + eventStanza("/a/", body: "three") + eventStanza("/a/", body: "four")
        var whole = Self.loggedIn()
        let expected = Self.feed(&whole, stream)
        #expect(Self.routes(expected).count == 4)
        let bytes = Array(stream.utf8)
        for size in [1, 2, 7, 64, 200] {
            var machine = Self.loggedIn()
            let recorder = Recorder()
            for start in stride(from: 0, to: bytes.count, by: size) {
                machine.read(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]), into: recorder)
            }
            let split = recorder.take()
            #expect(split.count == expected.count, "reads of \(size)")
            for (got, want) in zip(Self.routes(split), Self.routes(expected)) {
                #expect(got.event == want.event && got.element == want.element, "reads of \(size)")
            }
        }
    }

    @Test func aRepeatedEnvelopeKeepsItsNumberAndANewOneGetsAnother() {
        var machine = Self.loggedIn()
        let recorder = Recorder()
        machine.read(
            ByteBuffer(
                string: eventStanza("/a/", body: "1") + eventStanza("/a/", body: "22") + eventStanza("/b/", body: "3")
                    + eventStanza("/a/", body: "4")
            ),
            into: recorder
        )
        let routes = Self.routes(recorder.actions)
        #expect(routes.map { $0.event.channel.rawValue } == ["/a/", "/a/", "/b/", "/a/"])
        #expect(zip(routes, ["1", "22", "3", "4"]).allSatisfy { $0.element?.contains("<v>\($1)</v>") == true })
        let envelopes = recorder.envelopes
        #expect(envelopes.allSatisfy { $0 != nil })
        #expect(envelopes[0] == envelopes[1], "the same envelope around a new payload")
        #expect(envelopes[2] != envelopes[1] && envelopes[3] != envelopes[2] && envelopes[3] != envelopes[0])
        // A stanza other than an event comes between: the envelope is derived afresh.
        _ = Self.feed(&machine, "<presence/>", into: recorder)
        machine.read(ByteBuffer(string: eventStanza("/a/", body: "5")), into: recorder)
        #expect(Self.routes(recorder.actions).first?.event.channel.rawValue == "/a/")
        #expect(recorder.envelopes.last.flatMap { $0 } != envelopes[3])
    }

    @Test func aSenderIsWhoLoggedInWhenAccountsAreKept() {
        var table = AccountTable()
        table.set(service: "alice", password: "pw", cost: .minimal)
        var machine = Self.machine(accounts: table)
        _ = Self.feed(
            &machine,
            Self.header
                + "<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>alice</username><password>pw</password><resource>r</resource></query></iq>"
        )
        #expect(machine.isAuthenticated)
        // The event claims another sender, twice: both times it is written anew as alice's.
        let routes = Self.routes(Self.feed(&machine, eventStanza("/a/", body: "1") + eventStanza("/a/", body: "2")))
        #expect(routes.count == 2)
        #expect(routes.allSatisfy { $0.event.fromService == "alice" && $0.element == nil })
        #expect(
            routes.map { String(decoding: $0.event.payload, as: UTF8.self) } == [
                "<payload xmlns='urn:test'><v>1</v></payload>", "<payload xmlns='urn:test'><v>2</v></payload>",
            ]
        )
    }

    @Test func aSASLSuccessRestartsTheStreamInTheSameRead() {
        var machine = Self.machine()
        _ = Self.feed(&machine, Self.header)
        let actions = Self.feed(
            &machine,
            Self.auth(Self.plain("bob", "pw")) + Self.header
                + "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>"
        )
        #expect(Self.sent(actions).contains("<success"))
        #expect(Self.sent(actions).contains("id='s2'"), "the new stream's header")
        #expect(Self.sent(actions).contains("<jid>bob@srv/r</jid>"))
        #expect(actions.last == .loggedIn(service: "bob"))
    }

    @Test func whatFollowsSTARTTLSInTheSameReadIsDropped() {
        var machine = Self.machine(tls: .offered)
        _ = Self.feed(&machine, Self.header)
        let actions = Self.feed(
            &machine,
            "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + Stork.authSet + "<presence><unfinished"
        )
        #expect(actions == [.send(Array("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".utf8)), .startTLS])
        #expect(!machine.isAuthenticated)
        // Inside TLS a new stream begins, framed afresh.
        let inside = Self.sent(Self.feed(&machine, Self.header))
        #expect(inside.contains("<stream:stream") && !inside.contains("starttls"))
    }

    @Test func brokenXMLEndsTheStreamAndNothingMoreIsRead() {
        var machine = Self.loggedIn()
        let actions = Self.feed(&machine, eventStanza("/a/", body: "ok") + "text outside a stanza")
        #expect(Self.routes(actions).count == 1)
        guard case .badXML = actions[1] else {
            Issue.record("not refused: \(actions)")
            return
        }
        #expect(Self.sent(actions).contains("not-well-formed") && Self.sent(actions).hasSuffix("</stream:stream>"))
        #expect(actions.last.map { if case .close = $0 { true } else { false } } == true)
        #expect(machine.halted)
        #expect(Self.feed(&machine, eventStanza("/a/", body: "late")).isEmpty)
    }

    /// A sink that asks to pause stops the read between runs of events; what the read had left,
    /// whole events and an unfinished one, is read on by a resume and by the next read, in order.
    @Test func aPausedReadKeepsWhatItHasLeftAndGoesOnInOrder() {
        var machine = Self.loggedIn()
        let recorder = Recorder()
        let events = 2_000
        let stream = Array((0..<events).map { eventStanza("/a/", body: "\($0)") }.joined().utf8)
        // The last event arrives in two reads.
        let split = stream.count - 40
        recorder.pauseAfterRoutes = 1
        machine.read(ByteBuffer(bytes: stream[..<split]), into: recorder)
        #expect(machine.paused)
        let first = recorder.envelopes.count
        // One run at most: a run stops after its bytes pass ``ClientSessionMachine/runBytes``.
        let eventBytes = stream.count / events
        #expect(first >= 1 && first <= ClientSessionMachine.runBytes / eventBytes + 2, "\(first)")
        // Resumed while the sink still asks to pause: one more run.
        machine.resume(into: recorder)
        #expect(machine.paused)
        #expect(recorder.envelopes.count > first)
        recorder.pauseAfterRoutes = nil
        machine.resume(into: recorder)
        #expect(!machine.paused)
        #expect(recorder.envelopes.count == events - 1)
        machine.read(ByteBuffer(bytes: stream[split...]), into: recorder)
        let bodies = Self.routes(recorder.take()).map { $0.element ?? "" }
        #expect(bodies.count == events)
        #expect(bodies.enumerated().allSatisfy { $1.contains("<v>\($0)</v>") })
        // A new read while paused reads what was kept first.
        recorder.pauseAfterRoutes = 1
        machine.read(ByteBuffer(bytes: stream), into: recorder)
        #expect(machine.paused)
        recorder.pauseAfterRoutes = nil
        machine.read(ByteBuffer(string: eventStanza("/a/", body: "last")), into: recorder)
        let again = Self.routes(recorder.take()).map { $0.element ?? "" }
        #expect(again.count == events + 1)
        #expect(again.dropLast().enumerated().allSatisfy { $1.contains("<v>\($0)</v>") })
        #expect(again.last?.contains("<v>last</v>") == true)
    }

    @Test func aSinkThatIsClosingStopsTheRead() {
        var machine = Self.machine()
        let recorder = Recorder()
        recorder.open = false
        machine.read(ByteBuffer(string: Self.header + Stork.authGet + Stork.authSet), into: recorder)
        #expect(recorder.actions.count == 1, "only the stream header's reply")
        #expect(machine.halted)
    }
}
