public import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One message of the LeasePeer protocol between two servers (port 23341).
///
/// A link is one XML stream each way, opened by ``PeerWire/streamHeader``. Every message is
/// `<peerMessage seq='N'>` around one element, N counting from 1 in each direction. The full
/// protocol (handshake, leases, keep-alive) is in `docs/psepr-protocol.md`.
public enum PeerMessage: Sendable, Equatable {
    /// First message each way: who the sender is, and a fresh nonce for the other's proof.
    case hello(id: String, host: String, nonce: String)
    /// Second message each way: the sender's proof that it holds its own authKey.
    case auth(proof: String)
    /// Take or renew a lease on the receiver for the sender's clients.
    case register(identifier: String, channel: ChannelName, namespace: String?, seconds: Int)
    /// Release a lease.
    case unregister(identifier: String)
    /// A lease was installed or renewed for `seconds`.
    case granted(identifier: String, seconds: Int)
    /// A lease was released.
    case released(identifier: String)
    /// A lease was refused.
    case refused(identifier: String, reason: String)
    /// An event for the receiver's local subscribers; `element` is where its `<event>` element
    /// lies in the framed stanza when it can be forwarded as it came.
    case event(Event, element: Range<Int>?)
    /// Keep-alive, answered by ``pong``.
    case ping
    /// The answer to ``ping``.
    case pong
    /// The sender is closing the link, and why (a refused handshake).
    case error(reason: String)
}

/// Encoding and decoding of ``PeerMessage``s.
public enum PeerWire {
    /// The namespace of the peer stream.
    public static let namespace = "http://psepr.org/xs/leasepeer"

    /// The stream header each side sends first.
    public static let streamHeader: [UInt8] = Array(
        "<?xml version='1.0'?><stream:stream xmlns='\(namespace)' xmlns:stream='http://etherx.jabber.org/streams' version='1'>".utf8
    )

    /// Writes `stanza` (one element) as message `sequence`.
    public static func writeNumbered(_ stanza: ByteBuffer, sequence: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<peerMessage seq='")
        buffer.writeString(String(sequence))
        buffer.writeStaticString("'>")
        buffer.writeImmutableBuffer(stanza)
        buffer.writeStaticString("</peerMessage>")
    }

    /// The element of a message other than ``PeerMessage/event(_:element:)`` (events travel as
    /// the router's shared `<message>` stanza).
    public static func element(_ message: PeerMessage) -> ByteBuffer {
        func attributes(_ pairs: [(String, String?)]) -> String {
            pairs.compactMap { name, value in value.map { " \(name)='\(XMLText.escape($0))'" } }.joined()
        }
        let text: String
        switch message {
        case .hello(let id, let host, let nonce):
            text = "<hello\(attributes([("id", id), ("host", host), ("nonce", nonce), ("version", "1")]))/>"
        case .auth(let proof):
            text = "<auth\(attributes([("proof", proof)]))/>"
        case .register(let identifier, let channel, let namespace, let seconds):
            text = "<lease\(attributes([("op", "register"), ("identifier", identifier), ("channel", channel.rawValue), ("namespace", namespace), ("seconds", String(seconds))]))/>"
        case .unregister(let identifier):
            text = "<lease\(attributes([("op", "unregister"), ("identifier", identifier)]))/>"
        case .granted(let identifier, let seconds):
            text = "<granted\(attributes([("identifier", identifier), ("seconds", String(seconds))]))/>"
        case .released(let identifier):
            text = "<released\(attributes([("identifier", identifier)]))/>"
        case .refused(let identifier, let reason):
            text = "<refused\(attributes([("identifier", identifier), ("reason", reason)]))/>"
        case .event(let event, _):
            return StanzaEncoder.messageBuffer(event, id: "p")
        case .ping:
            text = "<ping/>"
        case .pong:
            text = "<pong/>"
        case .error(let reason):
            text = "<error\(attributes([("reason", reason)]))/>"
        }
        return ByteBuffer(string: text)
    }

    /// Decodes one framed `<peerMessage>` stanza into its sequence number and message.
    ///
    /// Events, the bulk of the traffic, are read by ``EventScanner`` straight from the bytes;
    /// anything else goes through the full parser.
    ///
    /// - Throws: ``PsEPRError`` for a stanza that is not a well-formed peer message.
    public static func decode(_ stanza: UnsafeRawBufferPointer) throws -> (sequence: UInt64, message: PeerMessage) {
        if let fast = decodeEventQuickly(stanza) { return fast }
        let element = try XMLElement.parse(stanza)
        guard element.localName == "peerMessage", let sequenceText = element.attributes["seq"], let sequence = UInt64(sequenceText) else {
            throw PsEPRError(.malformedXML, "expected <peerMessage seq='N'>, got <\(element.name.prefix(40))>")
        }
        guard element.children.count == 1, let body = element.children.first else {
            throw PsEPRError(.malformedXML, "a peer message holds exactly one element")
        }
        return (sequence, try message(body, source: Array(stanza)))
    }

    private static func message(_ body: XMLElement, source: [UInt8]) throws -> PeerMessage {
        let attributes = body.attributes
        func required(_ name: String) throws -> String {
            guard let value = attributes[name] else { throw PsEPRError(.malformedXML, "<\(body.localName)> without \(name)") }
            return value
        }
        func seconds() throws -> Int {
            guard let seconds = Int(try required("seconds")), seconds > 0 else { throw PsEPRError(.malformedXML, "<\(body.localName)> with a bad seconds") }
            return seconds
        }
        switch body.localName {
        case "hello": return .hello(id: try required("id"), host: attributes["host"] ?? "", nonce: try required("nonce"))
        case "auth": return .auth(proof: try required("proof"))
        case "lease":
            switch try required("op") {
            case "register":
                return .register(identifier: try required("identifier"), channel: try ChannelName(try required("channel")), namespace: attributes["namespace"], seconds: try seconds())
            case "unregister":
                return .unregister(identifier: try required("identifier"))
            case let op:
                throw PsEPRError(.malformedXML, "unknown lease op \(op.prefix(20))")
            }
        case "granted": return .granted(identifier: try required("identifier"), seconds: try seconds())
        case "released": return .released(identifier: try required("identifier"))
        case "refused": return .refused(identifier: try required("identifier"), reason: attributes["reason"] ?? "")
        case "message", "event": return .event(try Event(element: body, source: source), element: nil)
        case "ping": return .ping
        case "pong": return .pong
        case "error": return .error(reason: attributes["reason"] ?? "")
        default: throw PsEPRError(.malformedXML, "unknown peer message <\(body.localName.prefix(40))>")
        }
    }

    /// `<peerMessage seq='N'><message …>…</message></peerMessage>` exactly as this
    /// implementation writes it; nil for anything else.
    private static func decodeEventQuickly(_ bytes: UnsafeRawBufferPointer) -> (sequence: UInt64, message: PeerMessage)? {
        let open: StaticString = "<peerMessage seq='"
        let close: StaticString = "</peerMessage>"
        let openLength = open.utf8CodeUnitCount, closeLength = close.utf8CodeUnitCount
        guard bytes.count > openLength + closeLength + 4,
            memcmp(bytes.baseAddress!, open.utf8Start, openLength) == 0,
            memcmp(bytes.baseAddress! + bytes.count - closeLength, close.utf8Start, closeLength) == 0
        else { return nil }
        var position = openLength
        var sequence: UInt64 = 0
        while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9"), sequence < UInt64.max / 20 {
            sequence = sequence * 10 + UInt64(bytes[position] - UInt8(ascii: "0"))
            position += 1
        }
        guard position > openLength, position + 2 < bytes.count, bytes[position] == UInt8(ascii: "'"), bytes[position + 1] == UInt8(ascii: ">") else { return nil }
        let bodyStart = position + 2
        let body = UnsafeRawBufferPointer(rebasing: bytes[bodyStart..<(bytes.count - closeLength)])
        guard body.count > 8, body[0] == UInt8(ascii: "<"), body[1] == UInt8(ascii: "m"), let scanned = EventScanner.scanMessage(body) else { return nil }
        let element = scanned.selfContainedElement.map { ($0.lowerBound + bodyStart)..<($0.upperBound + bodyStart) }
        return (sequence, .event(scanned.event, element: element))
    }
}
