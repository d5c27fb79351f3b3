import Crypto
import PsEPRCore

/// The LeasePeer handshake as a pure machine, one per link: no channel, no clock, no mesh. The
/// link handler feeds it the peer's messages and carries out what it answers.
///
/// Each side sends the stream header and `<hello id nonce>`; on the other's hello it checks the
/// ID against its peer list (and, when it dialled, against the ID it meant to reach) and sends
/// `<auth proof>`, an HMAC-SHA256 under its own authKey over both IDs and both nonces, the
/// receiver's first; on the other's auth it checks the proof with the key its list gives for
/// that peer. Anything else refuses the link with a reason.
struct PeerHandshake {
    enum Direction: Equatable {
        case dialled(expectedID: String)
        case accepted
    }

    enum State: Equatable {
        case awaitingHello
        case awaitingAuth(PeerEntry, nonce: String)
        case established(PeerEntry)
        case refused(reason: String)
    }

    /// What the link does next.
    enum Action: Equatable {
        /// Send this message to the peer.
        case send(PeerMessage)
        /// The peer proved who it is: the link is up.
        case establish(PeerEntry)
        /// End the link, telling the peer `reason`; `peer` is the ID it claimed or was meant to be.
        case refuse(reason: String, peer: String?)
    }

    let direction: Direction
    /// This side's nonce, fresh for every link.
    let ownNonce: String
    private(set) var state = State.awaitingHello

    init(direction: Direction, ownNonce: String = RandomText.hex(byteCount: 16)) {
        self.direction = direction
        self.ownNonce = ownNonce
    }

    /// The ID of the peer at the other end, as far as the handshake knows it.
    var peerID: String? {
        switch state {
        case .awaitingAuth(let peer, _), .established(let peer): peer.id
        default: if case .dialled(let id) = direction { id } else { nil }
        }
    }

    var isEstablished: Bool { if case .established = state { true } else { false } }

    /// The link is open: this side's hello, or a refusal when this server has no place in its
    /// own peer file.
    mutating func start(_ configuration: PeerConfiguration, hostname: String) -> Action {
        guard configuration.refusal == nil, let ownID = configuration.ownID else {
            return refuse(configuration.refusal ?? "no ID")
        }
        return .send(.hello(id: ownID, host: hostname, nonce: ownNonce))
    }

    /// A handshake message from the peer; nil once established (the link handles the rest).
    mutating func receive(_ message: PeerMessage, _ configuration: PeerConfiguration) -> Action? {
        switch state {
        case .awaitingHello: return receiveHello(message, configuration)
        case .awaitingAuth(let peer, let nonce):
            return receiveAuth(message, peer: peer, peerNonce: nonce, configuration)
        case .established, .refused: return nil
        }
    }

    /// Refuses the link for a reason found outside the machine (bad XML, a timeout).
    mutating func refuse(_ reason: String) -> Action {
        let peer = peerID
        state = .refused(reason: reason)
        return .refuse(reason: reason, peer: peer)
    }

    private mutating func receiveHello(_ message: PeerMessage, _ configuration: PeerConfiguration) -> Action {
        guard case .hello(let id, let host, let nonce) = message else { return refuse("expected <hello>") }
        guard let ownID = configuration.ownID, let ownKey = configuration.ownAuthKey else {
            state = .refused(reason: "this server has no ID")
            return .refuse(reason: "this server has no ID", peer: id)
        }
        if case .dialled(let expected) = direction, expected != id {
            return refuse("expected the peer with ID \(expected), reached ID \(id)")
        }
        guard let peer = configuration.peer(id: id) else {
            let reason = "ID \(id) (\(host)) is not in this server's peer list"
            state = .refused(reason: reason)
            return .refuse(reason: reason, peer: id)
        }
        state = .awaitingAuth(peer, nonce: nonce)
        return .send(
            .auth(
                proof: Self.proof(
                    authKey: ownKey,
                    senderID: ownID,
                    receiverID: id,
                    receiverNonce: nonce,
                    senderNonce: ownNonce
                )
            )
        )
    }

    private mutating func receiveAuth(
        _ message: PeerMessage,
        peer: PeerEntry,
        peerNonce: String,
        _ configuration: PeerConfiguration
    ) -> Action {
        guard case .auth(let proof) = message else { return refuse("expected <auth>") }
        guard let ownID = configuration.ownID else { return refuse("this server has no ID") }
        guard
            Self.isValidProof(
                proof,
                authKey: peer.authKey,
                senderID: peer.id,
                receiverID: ownID,
                receiverNonce: ownNonce,
                senderNonce: peerNonce
            )
        else {
            return refuse("peer \(peer.id) does not hold the authKey this server has for it")
        }
        state = .established(peer)
        return .establish(peer)
    }
}

extension PeerHandshake {
    /// The handshake proof a server with `senderID` and `authKey` sends to `receiverID`: an
    /// HMAC-SHA256 under its own authKey over both IDs and both nonces, the receiver's first.
    static func proof(
        authKey: String,
        senderID: String,
        receiverID: String,
        receiverNonce: String,
        senderNonce: String
    ) -> String {
        let message = proofMessage(
            senderID: senderID,
            receiverID: receiverID,
            receiverNonce: receiverNonce,
            senderNonce: senderNonce
        )
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(authKey.utf8)))
        return code.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// Whether `proof` (hex) is ``proof(authKey:senderID:receiverID:receiverNonce:senderNonce:)``,
    /// checked by HMAC's own constant-time comparison.
    static func isValidProof(
        _ proof: String,
        authKey: String,
        senderID: String,
        receiverID: String,
        receiverNonce: String,
        senderNonce: String
    ) -> Bool {
        guard let code = AccountTable.bytes(hex: Substring(proof)), code.count == SHA256.byteCount else { return false }
        let message = proofMessage(
            senderID: senderID,
            receiverID: receiverID,
            receiverNonce: receiverNonce,
            senderNonce: senderNonce
        )
        return HMAC<SHA256>.isValidAuthenticationCode(
            code,
            authenticating: message,
            using: SymmetricKey(data: Array(authKey.utf8))
        )
    }

    private static func proofMessage(
        senderID: String,
        receiverID: String,
        receiverNonce: String,
        senderNonce: String
    ) -> [UInt8] {
        Array("psepr-leasepeer-1\n\(senderID)\n\(receiverID)\n\(receiverNonce)\n\(senderNonce)".utf8)
    }
}
