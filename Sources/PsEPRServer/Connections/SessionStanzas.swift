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

    func write(into xml: inout XMLWriter) {
        switch self {
        case .startTLS(let required):
            xml.element("starttls", ["xmlns": XMPPNamespace.tls]) { if required { $0.empty("required") } }
        case .saslPlain:
            xml.element("mechanisms", ["xmlns": XMPPNamespace.sasl]) { $0.element("mechanism", text: "PLAIN") }
        case .legacyAuthentication:
            xml.markup(StanzaEncoder.legacyAuthenticationFeature)
        case .bind:
            xml.empty("bind", ["xmlns": XMPPNamespace.bind])
        case .session:
            xml.element("session", ["xmlns": XMPPNamespace.session]) { $0.empty("optional") }
        }
    }
}

/// The server's side of the standard XMPP login: STARTTLS, SASL, binding, session and roster
/// replies. Everything is escaped; each is one write.
enum SessionStanzas {
    /// The stream header with `features`.
    static func streamHeader(serverName: String, streamID: String, features: [StreamFeature]) -> [UInt8] {
        var xml = XMLWriter()
        for feature in features { feature.write(into: &xml) }
        return StanzaEncoder.streamHeader(serverName: serverName, streamID: streamID, features: xml.string)
    }

    /// STARTTLS accepted: the TLS handshake follows.
    static let proceed = empty("proceed", namespace: XMPPNamespace.tls)

    /// STARTTLS refused (no certificate configured, or TLS is already on); the stream ends.
    static let tlsFailure = empty("failure", namespace: XMPPNamespace.tls)

    /// SASL succeeded: the client opens a new stream next.
    static let saslSuccess = empty("success", namespace: XMPPNamespace.sasl)

    /// An empty SASL challenge, asking for the credentials a PLAIN `<auth>` left out.
    static let saslEmptyChallenge = empty("challenge", namespace: XMPPNamespace.sasl)

    private static func empty(_ name: String, namespace: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.empty(name, ["xmlns": namespace])
        return xml.bytes
    }

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
        var xml = XMLWriter()
        xml.element("failure", ["xmlns": XMPPNamespace.sasl]) {
            $0.empty(condition.rawValue)
            $0.element("text", text: text)
        }
        return xml.bytes
    }

    /// The bound JID.
    static func bindResult(id: String, jid: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("iq", ["type": "result", "id": id]) {
            $0.element("bind", ["xmlns": XMPPNamespace.bind]) { $0.element("jid", text: jid) }
        }
        return xml.bytes
    }

    /// A PsEPR client has no contacts: every roster is empty (RFC 6121 §2.1.3).
    static func emptyRoster(id: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("iq", ["type": "result", "id": id]) { $0.empty("query", ["xmlns": XMPPNamespace.roster]) }
        return xml.bytes
    }

    /// An `<iq>` error (RFC 6120 §8.3) with a human-readable text.
    static func iqError(id: String, type: String, condition: String, text: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("iq", ["type": "error", "id": id]) {
            $0.element("error", ["type": type]) {
                $0.empty(condition, ["xmlns": XMPPNamespace.stanzas])
                $0.element("text", ["xmlns": XMPPNamespace.stanzas], text: text)
            }
        }
        return xml.bytes
    }
}
