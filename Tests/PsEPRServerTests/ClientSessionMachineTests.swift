import Foundation
import NIOCore
import PsEPRCore
import PsEPRTesting
import Synchronization
import Testing

@testable import PsEPRServer

/// The login state machine on its own: frames in, actions out.
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

    static func stanza(_ text: String) -> StreamFrame { .stanza(ByteBuffer(string: text)) }

    static func plain(_ service: String, _ password: String, authzid: String = "") -> String {
        Data(Array(authzid.utf8) + [0] + Array(service.utf8) + [0] + Array(password.utf8)).base64EncodedString()
    }

    static func auth(_ text: String, mechanism: String = "PLAIN") -> StreamFrame {
        stanza("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='\(mechanism)'>\(text)</auth>")
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
        let header = Self.sent(machine.receive(.streamOpened(attributes: [:])))
        #expect(header.contains("id='s1'"))
        #expect(
            header.contains(
                "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
            )
        )
        #expect(header.contains("<auth xmlns='http://jabber.org/features/iq-auth'/>"))
        #expect(!header.contains("starttls"))

        let success = machine.receive(Self.auth(Self.plain("alice", "right")))
        #expect(success == [.send(Array("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>".utf8)), .restartStream])
        #expect(machine.phase == .awaitingRestart(service: "alice"))

        // The restarted stream has a new ID and offers binding and an optional session.
        let restarted = Self.sent(machine.receive(.streamOpened(attributes: [:])))
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
            machine.receive(
                Self.stanza(
                    "<message id='m'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><from/><payload xmlns='x'/></event></message>"
                )
            )
        )
        #expect(early.contains("not-authorized") && early.contains("bind a resource"))

        let bound = Self.sent(
            machine.receive(
                Self.stanza(
                    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>laptop</resource></bind></iq>"
                )
            )
        )
        #expect(
            bound
                == "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@srv/laptop</jid></bind></iq>"
        )
        #expect(machine.phase == .authenticated(service: "alice", instance: "laptop"))

        #expect(
            Self.sent(
                machine.receive(
                    Self.stanza("<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
                )
            ) == "<iq type='result' id='s'/>"
        )
        #expect(
            Self.sent(machine.receive(Self.stanza("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")))
                == "<iq type='result' id='r'><query xmlns='jabber:iq:roster'/></iq>"
        )
        let event = machine.receive(
            Self.stanza(
                "<message id='m'><event xmlns='http://psepr.org/xs/event'><to><channel>/a/</channel></to><from/><payload xmlns='x'/></event></message>"
            )
        )
        guard case .route(let routed, _)? = event.first else {
            Issue.record("not routed: \(event)")
            return
        }
        #expect(routed.fromService == "alice" && routed.fromInstance == "laptop")
    }

    @Test func aBindWithoutAResourceGetsOneMadeUp() {
        var machine = Self.machine()
        _ = machine.receive(.streamOpened(attributes: [:]))
        _ = machine.receive(Self.auth(Self.plain("bob", "anything")))
        _ = machine.receive(.streamOpened(attributes: [:]))
        let bound = Self.sent(
            machine.receive(Self.stanza("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"))
        )
        #expect(bound.contains("<jid>bob@srv/psepr-s3</jid>"))
        #expect(machine.phase == .authenticated(service: "bob", instance: "psepr-s3"))
    }

    @Test func plainWithoutAnInitialResponseAsksForIt() {
        var machine = Self.machine(accounts: Self.accounts)
        _ = machine.receive(.streamOpened(attributes: [:]))
        #expect(
            machine.receive(Self.auth("")) == [
                .send(Array("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>".utf8))
            ]
        )
        #expect(machine.phase == .awaitingSASLResponse)
        let answer = machine.receive(
            Self.stanza(
                "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(Self.plain("alice", "right", authzid: "alice@srv"))</response>"
            )
        )
        #expect(answer.last == .restartStream)
    }

    @Test func refusedSASLLoginsSayWhyInTheLogAndNotToTheClient() {
        var machine = Self.machine(accounts: Self.accounts)
        _ = machine.receive(.streamOpened(attributes: [:]))
        let wrong = machine.receive(Self.auth(Self.plain("alice", "wrong")))
        #expect(wrong.first == .loginRefused(service: "alice", reason: "wrong password"))
        #expect(
            Self.sent(wrong)
                == "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>the service name or password was not accepted</text></failure>"
        )
        #expect(machine.phase == .awaitingAuthentication)
        let unknown = machine.receive(Self.auth(Self.plain("mallory", "x")))
        #expect(unknown.first == .loginRefused(service: "mallory", reason: "unknown account"))
        // The third refusal ends the stream.
        let third = machine.receive(Self.auth(Self.plain("alice", "again")))
        #expect(Self.sent(third).hasSuffix("</stream:stream>"))
        #expect(third.last == .close(reason: "3 refused logins"))
        #expect(machine.phase == .closed)
    }

    @Test func malformedSASLRequestsGetTheirConditions() {
        var machine = Self.machine()
        _ = machine.receive(.streamOpened(attributes: [:]))
        #expect(Self.sent(machine.receive(Self.auth("abc", mechanism: "DIGEST-MD5"))).contains("<invalid-mechanism/>"))
        #expect(Self.sent(machine.receive(Self.auth("!!not base64!!"))).contains("<incorrect-encoding/>"))
        #expect(
            Self.sent(machine.receive(Self.auth(Data("no-separators".utf8).base64EncodedString()))).contains(
                "<malformed-request/>"
            )
        )
        #expect(
            Self.sent(machine.receive(Self.auth(Self.plain("bob", "pw", authzid: "someone-else")))).contains(
                "<invalid-authzid/>"
            )
        )
        #expect(
            Self.sent(machine.receive(Self.stanza("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"))).contains(
                "<aborted/>"
            )
        )
        #expect(machine.phase == .awaitingAuthentication)
    }

    @Test func legacyLoginRepliesAreUnchanged() {
        var machine = Self.machine()
        _ = machine.receive(.streamOpened(attributes: [:]))
        #expect(
            Self.sent(machine.receive(Self.stanza(Stork.authGet)))
                == "<iq type='result' id='logon_1'><query xmlns='jabber:iq:auth'><username>arizona_stork2</username><password/><resource/></query></iq>"
        )
        #expect(machine.receive(Self.stanza(Stork.authSet)) == [.send(Array("<iq type='result' id='logon_2'/>".utf8))])
        #expect(machine.phase == .authenticated(service: "arizona_stork2", instance: "Home"))
        // A roster request after the legacy login gets an empty roster too.
        #expect(
            Self.sent(machine.receive(Self.stanza("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")))
                .contains("<query xmlns='jabber:iq:roster'/>")
        )
        #expect(
            Self.sent(machine.receive(Self.stanza("<iq type='get' id='v'><query xmlns='jabber:iq:version'/></iq>")))
                .contains("service-unavailable")
        )
    }

    @Test func aWrongLegacyPasswordIsLoggedWithItsReason() {
        var machine = Self.machine(accounts: Self.accounts)
        _ = machine.receive(.streamOpened(attributes: [:]))
        let refused = machine.receive(
            Self.stanza(
                "<iq type='set' id='x'><query xmlns='jabber:iq:auth'><username>alice</username><password>nope</password></query></iq>"
            )
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
        _ = machine.receive(.streamOpened(attributes: [:]))
        #expect(
            Self.sent(machine.receive(Self.stanza("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")))
                .contains("not-authorized")
        )
        #expect(
            Self.sent(
                machine.receive(
                    Self.stanza("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
                )
            ).contains("not-authorized")
        )
        #expect(machine.receive(Self.stanza("<iq type='result' id='q'/>")).isEmpty)
    }

    @Test func startTLSIsOfferedWithACertificateAndRequiredWhenConfigured() {
        var offered = Self.machine(tls: .offered)
        let header = Self.sent(offered.receive(.streamOpened(attributes: [:])))
        #expect(header.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></starttls><mechanisms"))
        #expect(
            offered.receive(Self.stanza("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")) == [
                .send(Array("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".utf8)), .startTLS,
            ]
        )
        #expect(offered.isEncrypted && offered.phase == .awaitingStream)
        // Inside TLS: a new stream, without STARTTLS.
        let inside = Self.sent(offered.receive(.streamOpened(attributes: [:])))
        #expect(!inside.contains("starttls") && inside.contains("<mechanism>PLAIN</mechanism>"))

        var required = Self.machine(tls: .required)
        let requiredHeader = Self.sent(required.receive(.streamOpened(attributes: [:])))
        #expect(
            requiredHeader.hasSuffix(
                "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
            )
        )
        let plainLogin = required.receive(Self.stanza(Stork.authSet))
        #expect(Self.sent(plainLogin).contains("policy-violation") && Self.sent(plainLogin).contains("requires TLS"))
        #expect(required.phase == .closed)

        var requiredSASL = Self.machine(tls: .required)
        _ = requiredSASL.receive(.streamOpened(attributes: [:]))
        #expect(Self.sent(requiredSASL.receive(Self.auth(Self.plain("a", "b")))).contains("<encryption-required/>"))

        var unavailable = Self.machine()
        _ = unavailable.receive(.streamOpened(attributes: [:]))
        let refused = unavailable.receive(Self.stanza("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
        #expect(Self.sent(refused).hasPrefix("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
        #expect(unavailable.phase == .closed)
    }

    @Test func errorsToClientsAreInPlainWords() {
        var machine = Self.machine()
        _ = machine.receive(.streamOpened(attributes: [:]))
        _ = machine.receive(Self.stanza(Stork.authSet))
        let reply = Self.sent(
            machine.receive(
                Self.stanza(
                    "<message id='bad'><event xmlns='http://psepr.org/xs/event'><to><channel>no-slashes</channel></to><from/><payload xmlns='x'/></event></message>"
                )
            )
        )
        #expect(reply.contains("bad-request"))
        #expect(!reply.contains("PsEPRError"))
    }
}
