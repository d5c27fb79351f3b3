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
    /// Take or renew a lease on the receiver for the sender's clients. In a relaying mesh
    /// `hops` says how far the interest is from the nearest server whose clients hold it (0: the
    /// sender's own); a full mesh sends none, as before relaying existed.
    case register(identifier: String, channel: ChannelName, namespace: String?, seconds: Int, hops: Int? = nil)
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
    /// An event relayed through a mesh that is not a full mesh: `stamp` names the server it
    /// entered the mesh at and its place in that server's sequence, so every server takes it
    /// once however many paths bring it.
    case relayed(RelayStamp, Event, element: Range<Int>?)
    /// Keep-alive, answered by ``pong``.
    case ping
    /// The answer to ``ping``.
    case pong
    /// The sender is closing the link, and why (a refused handshake).
    case error(reason: String)
}

/// Where a relayed event entered the mesh: the origin server's ID, its restart generation and
/// the event's number in that generation's sequence (from 1).
public struct RelayStamp: Sendable, Hashable {
    /// The ID of the server whose client (or service) published the event.
    public var origin: String
    /// The origin's restart generation: a random number drawn when it starts, so a restarted
    /// server's numbers never collide with its former life's.
    public var epoch: UInt64
    /// The event's number at its origin, counting from 1 in each generation.
    public var sequence: UInt64

    /// Creates a stamp.
    public init(origin: String, epoch: UInt64, sequence: UInt64) {
        self.origin = origin
        self.epoch = epoch
        self.sequence = sequence
    }

    /// Longest origin ID accepted on the wire (an ID is a number or a short name).
    public static let maximumOriginBytes = 256
}

/// Encoding and decoding of ``PeerMessage``s.
public enum PeerWire {
    /// The namespace of the peer stream.
    public static let namespace = "http://psepr.org/xs/leasepeer"

    /// The stream header each side sends first.
    public static let streamHeader: [UInt8] = {
        var xml = XMLWriter()
        xml.markup("<?xml version='1.0'?>")
        xml.start("stream:stream", ["xmlns": namespace, "xmlns:stream": XMPPNamespace.streams, "version": "1"])
        return xml.bytes
    }()

    /// Writes `stanza` (one element) as message `sequence`.
    public static func writeNumbered(_ stanza: ByteBuffer, sequence: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<peerMessage seq='")
        buffer.writeDecimal(sequence)
        buffer.writeStaticString("'>")
        buffer.writeImmutableBuffer(stanza)
        buffer.writeStaticString("</peerMessage>")
    }

    /// The element of a message other than ``PeerMessage/event(_:element:)`` (events travel as
    /// the router's shared `<message>` stanza).
    public static func element(_ message: PeerMessage) -> ByteBuffer {
        var xml = XMLWriter(capacity: 128)
        switch message {
        case .hello(let id, let host, let nonce):
            xml.empty("hello", ["id": id, "host": host, "nonce": nonce, "version": "1"])
        case .auth(let proof):
            xml.empty("auth", ["proof": proof])
        case .register(let identifier, let channel, let namespace, let seconds, let hops):
            xml.empty(
                "lease",
                [
                    "op": "register", "identifier": identifier, "channel": channel.rawValue, "namespace": namespace,
                    "seconds": String(seconds), "hops": hops.map(String.init),
                ]
            )
        case .unregister(let identifier):
            xml.empty("lease", ["op": "unregister", "identifier": identifier])
        case .granted(let identifier, let seconds):
            xml.empty("granted", ["identifier": identifier, "seconds": String(seconds)])
        case .released(let identifier):
            xml.empty("released", ["identifier": identifier])
        case .refused(let identifier, let reason):
            xml.empty("refused", ["identifier": identifier, "reason": reason])
        case .event(let event, _):
            return StanzaEncoder.messageBuffer(event, id: "p")
        case .relayed(let stamp, let event, _):
            var buffer = ByteBuffer()
            writeRelayed(StanzaEncoder.messageBuffer(event, id: "p"), stamp: stamp, into: &buffer)
            return buffer
        case .ping:
            xml.empty("ping")
        case .pong:
            xml.empty("pong")
        case .error(let reason):
            xml.empty("error", ["reason": reason])
        }
        return xml.buffer
    }

    /// Writes a relayed event: `<relay origin='O' epoch='E' seq='S'>` around its `<message>`.
    public static func writeRelayed(_ message: ByteBuffer, stamp: RelayStamp, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<relay origin='")
        buffer.writeXMLText(stamp.origin)
        buffer.writeStaticString("' epoch='")
        buffer.writeDecimal(stamp.epoch)
        buffer.writeStaticString("' seq='")
        buffer.writeDecimal(stamp.sequence)
        buffer.writeStaticString("'>")
        buffer.writeImmutableBuffer(message)
        buffer.writeStaticString("</relay>")
    }

    /// Decodes one framed `<peerMessage>` stanza into its sequence number and message.
    ///
    /// Events, the bulk of the traffic, are read by ``EventScanner`` straight from the bytes;
    /// anything else goes through the full parser.
    ///
    /// - Throws: ``PsEPRError`` for a stanza that is not a well-formed peer message.
    public static func decode(_ stanza: UnsafeRawBufferPointer) throws -> (sequence: UInt64, message: PeerMessage) {
        if let fast = decodeEventQuickly(stanza) { return fast }
        let element = try ParsedElement.parse(stanza)
        guard element.localName == "peerMessage", let sequenceText = element.attributes["seq"],
            let sequence = UInt64(sequenceText)
        else {
            throw PsEPRError(.malformedXML, "expected <peerMessage seq='N'>, got <\(element.name.prefix(40))>")
        }
        guard element.children.count == 1, let body = element.children.first else {
            throw PsEPRError(.malformedXML, "a peer message holds exactly one element")
        }
        return (sequence, try message(body, source: Array(stanza)))
    }

    private static func message(_ body: ParsedElement, source: [UInt8]) throws -> PeerMessage {
        let attributes = body.attributes
        func required(_ name: String) throws -> String {
            guard let value = attributes[name] else {
                throw PsEPRError(.malformedXML, "<\(body.localName)> without \(name)")
            }
            return value
        }
        func seconds() throws -> Int {
            guard let seconds = Int(try required("seconds")), seconds > 0 else {
                throw PsEPRError(.malformedXML, "<\(body.localName)> with a bad seconds")
            }
            return seconds
        }
        switch body.localName {
        case "hello":
            return .hello(id: try required("id"), host: attributes["host"] ?? "", nonce: try required("nonce"))
        case "auth": return .auth(proof: try required("proof"))
        case "lease":
            switch try required("op") {
            case "register":
                var hops: Int?
                if let text = attributes["hops"] {
                    guard let value = Int(text), (0...Self.maximumHops).contains(value) else {
                        throw PsEPRError(.malformedXML, "<lease> with a bad hops")
                    }
                    hops = value
                }
                return .register(
                    identifier: try required("identifier"),
                    channel: try ChannelName(try required("channel")),
                    namespace: attributes["namespace"],
                    seconds: try seconds(),
                    hops: hops
                )
            case "unregister":
                return .unregister(identifier: try required("identifier"))
            case let op:
                throw PsEPRError(.malformedXML, "unknown lease op \(op.prefix(20))")
            }
        case "granted": return .granted(identifier: try required("identifier"), seconds: try seconds())
        case "released": return .released(identifier: try required("identifier"))
        case "refused": return .refused(identifier: try required("identifier"), reason: attributes["reason"] ?? "")
        case "message", "event": return .event(try Event(element: body, source: source), element: nil)
        case "relay":
            let origin = try required("origin")
            guard !origin.isEmpty, origin.utf8.count <= RelayStamp.maximumOriginBytes else {
                throw PsEPRError(.malformedXML, "<relay> with a bad origin")
            }
            guard let epoch = UInt64(try required("epoch")), let sequence = UInt64(try required("seq")) else {
                throw PsEPRError(.malformedXML, "<relay> with a bad epoch or seq")
            }
            guard body.children.count == 1, let message = body.children.first,
                message.localName == "message" || message.localName == "event"
            else {
                throw PsEPRError(.malformedXML, "a <relay> holds exactly one <message>")
            }
            return .relayed(
                RelayStamp(origin: origin, epoch: epoch, sequence: sequence),
                try Event(element: message, source: source),
                element: nil
            )
        case "ping": return .ping
        case "pong": return .pong
        case "error": return .error(reason: attributes["reason"] ?? "")
        default: throw PsEPRError(.malformedXML, "unknown peer message <\(body.localName.prefix(40))>")
        }
    }

    /// `<peerMessage seq='N'><message …>…</message></peerMessage>` exactly as this
    /// implementation writes it; nil for anything else.
    private static func decodeEventQuickly(_ bytes: UnsafeRawBufferPointer) -> (sequence: UInt64, message: PeerMessage)?
    {
        let open: StaticString = "<peerMessage seq='"
        let close: StaticString = "</peerMessage>"
        let openLength = open.utf8CodeUnitCount
        let closeLength = close.utf8CodeUnitCount
        guard bytes.count > openLength + closeLength + 4,
            memcmp(bytes.baseAddress!, open.utf8Start, openLength) == 0,
            memcmp(bytes.baseAddress! + bytes.count - closeLength, close.utf8Start, closeLength) == 0
        else { return nil }
        var position = openLength
        var sequence: UInt64 = 0
        while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9"),
            sequence < UInt64.max / 20
        {
            sequence = sequence * 10 + UInt64(bytes[position] - UInt8(ascii: "0"))
            position += 1
        }
        guard position > openLength, position + 2 < bytes.count, bytes[position] == UInt8(ascii: "'"),
            bytes[position + 1] == UInt8(ascii: ">")
        else { return nil }
        var bodyStart = position + 2
        var bodyEnd = bytes.count - closeLength
        let stamp = relayStampQuickly(bytes, start: &bodyStart, end: &bodyEnd)
        guard bodyStart < bodyEnd else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: bytes[bodyStart..<bodyEnd])
        guard body.count > 8, body[0] == UInt8(ascii: "<"), body[1] == UInt8(ascii: "m"),
            let scanned = EventScanner.scanMessage(body)
        else { return nil }
        let element = scanned.selfContainedElement.map { ($0.lowerBound + bodyStart)..<($0.upperBound + bodyStart) }
        if let stamp { return (sequence, .relayed(stamp, scanned.event, element: element)) }
        return (sequence, .event(scanned.event, element: element))
    }

    /// Reads `<relay origin='O' epoch='E' seq='S'>` … `</relay>` exactly as ``writeRelayed``
    /// writes it (an origin without `&` or `'`), moving `start` and `end` inside it; nil, with
    /// `start` and `end` unchanged when the body does not start with `<relay `, or with
    /// `start == end` when it does but is not in that shape (the full parser decides then).
    private static func relayStampQuickly(
        _ bytes: UnsafeRawBufferPointer,
        start: inout Int,
        end: inout Int
    ) -> RelayStamp? {
        let open: StaticString = "<relay origin='"
        let close: StaticString = "</relay>"
        let openLength = open.utf8CodeUnitCount
        let closeLength = close.utf8CodeUnitCount
        guard end - start > openLength + closeLength,
            memcmp(bytes.baseAddress! + start, open.utf8Start, openLength) == 0
        else { return nil }
        func fail() -> RelayStamp? {
            end = start
            return nil
        }
        guard memcmp(bytes.baseAddress! + end - closeLength, close.utf8Start, closeLength) == 0 else { return fail() }
        var position = start + openLength
        let originStart = position
        while position < end, bytes[position] != UInt8(ascii: "'"), bytes[position] != UInt8(ascii: "&"),
            position - originStart <= RelayStamp.maximumOriginBytes
        { position += 1 }
        guard position < end, bytes[position] == UInt8(ascii: "'"), position > originStart,
            position - originStart <= RelayStamp.maximumOriginBytes
        else { return fail() }
        let origin = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[originStart..<position]), as: UTF8.self)
        func number(after label: StaticString) -> UInt64? {
            let length = label.utf8CodeUnitCount
            guard end - position > length, memcmp(bytes.baseAddress! + position, label.utf8Start, length) == 0 else {
                return nil
            }
            position += length
            var value: UInt64 = 0
            let digitsStart = position
            while position < end, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9"),
                position - digitsStart < 19
            {
                value = value * 10 + UInt64(bytes[position] - UInt8(ascii: "0"))
                position += 1
            }
            return position > digitsStart ? value : nil
        }
        guard let epoch = number(after: "' epoch='"), let sequence = number(after: "' seq='"),
            end - position > 2, bytes[position] == UInt8(ascii: "'"), bytes[position + 1] == UInt8(ascii: ">")
        else { return fail() }
        start = position + 2
        end -= closeLength
        return RelayStamp(origin: origin, epoch: epoch, sequence: sequence)
    }

    /// The most hops a relayed interest may carry (more than any mesh of 101 servers needs).
    public static let maximumHops = 255
}
