public import NIOCore

/// Builds a publisher's stanzas from per-channel templates, stamping each with its send time.
public struct StanzaTemplates: Sendable {
    private var templates: [ByteBuffer] = []
    private var stampOffsets: [Int] = []

    public init(channels: [String], instance: String, payloadBytes: Int) {
        for channel in channels {
            let head =
                "<message id='b'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to>"
                + "<from><service>bench</service><instance>\(instance)</instance></from><payload xmlns='urn:bench'><t>"
            let stamp = String(repeating: "0", count: 19)
            let bare = "<payload xmlns='urn:bench'><t>\(stamp)</t><d></d></payload>".utf8.count
            let filler = String(repeating: "x", count: max(0, payloadBytes - bare))
            let text = head + stamp + "</t><d>\(filler)</d></payload></event></message>"
            templates.append(ByteBuffer(string: text))
            stampOffsets.append(head.utf8.count)
        }
    }

    /// `count` stanzas starting at channel `first` (round robin), stamped now.
    public func batch(count: Int, first: Int) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(count * (templates[0].readableBytes + 8))
        var digits = [UInt8](repeating: 48, count: 19)
        var value = monotonicNanoseconds()
        for index in stride(from: 18, through: 0, by: -1) {
            digits[index] = UInt8(48 + value % 10)
            value /= 10
        }
        for number in 0..<count {
            let which = (first + number) % templates.count
            let start = output.writerIndex
            output.writeImmutableBuffer(templates[which])
            output.setBytes(digits, at: start + stampOffsets[which])
        }
        return output
    }

    public var channelCount: Int { templates.count }
}
