import NIOCore
import PsEPRCore
import PsEPRLoadGenerator

/// A client stream of 1,000 publisher stanzas, as `psepr bench` sends them; each measurement
/// takes the whole stream through one stage of the server's per-event work.
struct EnvelopeStream: Sendable {
    static let events = 1000
    let stream: ByteBuffer
    let stanzaBytes: Int

    init(payloadBytes: Int) {
        let templates = StanzaTemplates(channels: ["/bench/all/"], instance: "p", payloadBytes: payloadBytes)
        let chunk = templates.batch(count: Self.events, first: 0)
        stanzaBytes = chunk.readableBytes / Self.events
        var stream = ByteBuffer(
            string:
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        stream.writeImmutableBuffer(chunk)
        self.stream = stream
    }

    /// The reference: every stanza's bytes copied once.
    func copyEach() -> Int {
        var input = stream
        _ = input.readSlice(length: input.readableBytes - Self.events * stanzaBytes)
        var copied = 0
        while let slice = input.readSlice(length: stanzaBytes) {
            var copy = ByteBuffer()
            copy.writeImmutableBuffer(slice)
            copied &+= copy.readableBytes
        }
        return copied
    }

    func frame() throws -> Int {
        var input = stream
        var framer = XMLStreamFramer()
        var count = 0
        while let frame = try framer.decode(buffer: &input) { if case .stanza = frame { count += 1 } }
        return count
    }

    func frameAndScan() throws -> Int {
        var input = stream
        var framer = XMLStreamFramer()
        var count = 0
        while let frame = try framer.decode(buffer: &input) {
            guard case .stanza(let stanza) = frame else { continue }
            if case .event = stanza.withUnsafeReadableBytes({ EventScanner.scan($0) }) { count += 1 }
        }
        return count
    }

    /// The stream's events: the stream header goes through the framer, as on a real connection.
    private func eventsPastHeader() throws -> ByteBuffer {
        var input = stream
        var framer = XMLStreamFramer()
        _ = try framer.decode(buffer: &input)
        return input
    }

    /// The server's one-pass read, one event at a time (its path for events that do not continue
    /// a run): past the stream header, each event cut and read in one pass, only the payload
    /// scanned when the envelope repeats the last one.
    func onePassRead() throws -> Int {
        var input = try eventsPastHeader()
        let limits = XMLStreamFramer.Limits()
        var memo: EventScanner.LeadingMemo?
        var recent: ChannelName?
        var count = 0
        while input.readableBytes > 0 {
            guard
                let (scanned, length) = input.withUnsafeReadableBytes({
                    EventScanner.scanLeadingMessage(
                        $0,
                        limits: limits,
                        recentChannel: recent,
                        copyPayload: false,
                        memo: &memo
                    )
                })
            else { break }
            recent = scanned.event.channel
            input.moveReaderIndex(forwardBy: length)
            count += 1
        }
        return count
    }

    /// The server's path for a publisher that repeats one envelope, as most do: the first event
    /// read in full, the rest matched against its envelope as one run, then every message written
    /// into one outbound batch.
    func sameEnvelopeRun() throws -> Int {
        let input = try eventsPastHeader()
        let limits = XMLStreamFramer.Limits()
        var memo: EventScanner.LeadingMemo?
        guard
            let (_, first) = input.withUnsafeReadableBytes({
                EventScanner.scanLeadingMessage($0, limits: limits, recentChannel: nil, copyPayload: false, memo: &memo)
            }),
            let memo
        else { return 0 }
        var elements: [Range<Int>] = []
        elements.reserveCapacity(Self.events)
        let end = input.withUnsafeReadableBytes {
            memo.matchRun($0, from: first, reserved: 0, limits: limits, into: &elements)
        }
        var batch = ByteBuffer()
        var sizes: [Int] = []
        sizes.reserveCapacity(Self.events)
        StanzaEncoder.writeMessages(forwarding: input, elements: elements, firstNumber: 1, into: &batch, sizes: &sizes)
        return end &+ batch.readableBytes
    }

    func frameScanAndEncode() throws -> Int {
        var input = stream
        var framer = XMLStreamFramer()
        var bytes = 0
        while let frame = try framer.decode(buffer: &input) {
            guard case .stanza(let stanza) = frame,
                case .event(let event) = stanza.withUnsafeReadableBytes({ EventScanner.scan($0) })
            else { continue }
            bytes &+= StanzaEncoder.messageBuffer(event, id: "m").readableBytes
        }
        return bytes
    }
}
