import PsEPRCore

/// The stream features a client connection offers at each step of its login (RFC 6120 §4.3).
enum StreamFeature: Equatable {
    /// STARTTLS (RFC 6120 §5); `required` when the server refuses logins without it.
    case startTLS(required: Bool)
    /// SASL with the PLAIN mechanism (RFC 6120 §6, RFC 4616).
    case saslPlain
    /// Legacy `jabber:iq:auth` (XEP-0078), the original's only login.
    case legacyAuthentication
    /// Resource binding, after SASL (RFC 6120 §7).
    case bind
    /// Session establishment (RFC 3921 §3), offered as optional as RFC 6121 clients expect.
    case session

    var xml: String {
        switch self {
        case .startTLS(let required):
            "<starttls xmlns='\(XMPPNamespace.tls)'>\(required ? "<required/>" : "")</starttls>"
        case .saslPlain:
            "<mechanisms xmlns='\(XMPPNamespace.sasl)'><mechanism>PLAIN</mechanism></mechanisms>"
        case .legacyAuthentication:
            StanzaEncoder.legacyAuthenticationFeature
        case .bind:
            "<bind xmlns='\(XMPPNamespace.bind)'/>"
        case .session:
            "<session xmlns='\(XMPPNamespace.session)'><optional/></session>"
        }
    }
}

/// The XMPP namespaces of the login.
enum XMPPNamespace {
    static let tls = "urn:ietf:params:xml:ns:xmpp-tls"
    static let sasl = "urn:ietf:params:xml:ns:xmpp-sasl"
    static let bind = "urn:ietf:params:xml:ns:xmpp-bind"
    static let session = "urn:ietf:params:xml:ns:xmpp-session"
    static let stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
    static let legacyAuthentication = "jabber:iq:auth"
    static let roster = "jabber:iq:roster"
    static let ping = "urn:xmpp:ping"
}

/// The server's side of the standard XMPP login: STARTTLS, SASL, binding, session and roster
/// replies. Everything is escaped; each is one write.
enum SessionStanzas {
    /// The stream header with `features`.
    static func streamHeader(serverName: String, streamID: String, features: [StreamFeature]) -> [UInt8] {
        StanzaEncoder.streamHeader(serverName: serverName, streamID: streamID, features: features.map(\.xml).joined())
    }

    /// STARTTLS accepted: the TLS handshake follows.
    static let proceed = Array("<proceed xmlns='\(XMPPNamespace.tls)'/>".utf8)

    /// STARTTLS refused (no certificate configured, or TLS is already on); the stream ends.
    static let tlsFailure = Array("<failure xmlns='\(XMPPNamespace.tls)'/>".utf8)

    /// SASL succeeded: the client opens a new stream next.
    static let saslSuccess = Array("<success xmlns='\(XMPPNamespace.sasl)'/>".utf8)

    /// An empty SASL challenge, asking for the credentials a PLAIN `<auth>` left out.
    static let saslEmptyChallenge = Array("<challenge xmlns='\(XMPPNamespace.sasl)'/>".utf8)

    /// The SASL failure conditions this server sends (RFC 6120 §6.5).
    enum SASLFailure: String {
        case aborted
        case accountDisabled = "account-disabled"
        case encryptionRequired = "encryption-required"
        case incorrectEncoding = "incorrect-encoding"
        case invalidAuthzid = "invalid-authzid"
        case invalidMechanism = "invalid-mechanism"
        case malformedRequest = "malformed-request"
        case notAuthorized = "not-authorized"
    }

    /// A SASL failure with a human-readable text.
    static func saslFailure(_ condition: SASLFailure, text: String) -> [UInt8] {
        Array(
            "<failure xmlns='\(XMPPNamespace.sasl)'><\(condition.rawValue)/><text>\(XMLText.escape(text))</text></failure>"
                .utf8
        )
    }

    /// The bound JID.
    static func bindResult(id: String, jid: String) -> [UInt8] {
        Array(
            "<iq type='result' id='\(XMLText.escape(id))'><bind xmlns='\(XMPPNamespace.bind)'><jid>\(XMLText.escape(jid))</jid></bind></iq>"
                .utf8
        )
    }

    /// A PsEPR client has no contacts: every roster is empty (RFC 6121 §2.1.3).
    static func emptyRoster(id: String) -> [UInt8] {
        Array("<iq type='result' id='\(XMLText.escape(id))'><query xmlns='\(XMPPNamespace.roster)'/></iq>".utf8)
    }

    /// An `<iq>` error (RFC 6120 §8.3) with a human-readable text.
    static func iqError(id: String, type: String, condition: String, text: String) -> [UInt8] {
        Array(
            ("<iq type='error' id='\(XMLText.escape(id))'><error type='\(type)'><\(condition) xmlns='\(XMPPNamespace.stanzas)'/>"
                + "<text xmlns='\(XMPPNamespace.stanzas)'>\(XMLText.escape(text))</text></error></iq>").utf8
        )
    }
}
