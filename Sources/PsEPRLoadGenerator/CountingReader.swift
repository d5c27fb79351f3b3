import Glibc
public import NIOCore

/// Counts delivered `<message>`s and their latencies by scanning the bytes: `</message>` ends
/// one, and `<t>` is followed by the publisher's 19-digit send time. Matches carry across reads.
public final class CountingReader: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer

    private let tally: DeliveryTally
    private let subscriber: Int?
    /// Bytes of `</message>` (after its `<`) or `t>` matched so far, and which one.
    private var partial: [UInt8] = []
    private var digitsLeft = 0
    private var stamp: UInt64 = 0

    public init(tally: DeliveryTally, subscriber: Int? = nil) {
        self.tally = tally
        self.subscriber = subscriber
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if !partial.isEmpty {
            // A tag split across reads: glue the saved start onto this read.
            var joined = ByteBuffer(bytes: partial)
            joined.writeBuffer(&buffer)
            buffer = joined
            partial = []
        }
        var delivered = 0
        var stamps: [UInt64] = []
        // Locals, not the handler's properties, in the byte loop.
        var digitsLeft = self.digitsLeft
        var stamp = self.stamp
        var tail: [UInt8] = []
        buffer.withUnsafeReadableBytes { bytes in
            var index = 0
            let count = bytes.count
            while digitsLeft > 0, index < count {
                stamp = stamp &* 10 &+ UInt64(bytes[index] &- 48)
                digitsLeft -= 1
                index += 1
                if digitsLeft == 0 { stamps.append(stamp) }
            }
            while index < count {
                // Straight to the next "<" (memchr), past the payload text.
                guard let found = memchr(bytes.baseAddress! + index, Int32(UInt8(ascii: "<")), count - index) else {
                    break
                }
                index = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
                // "</message>" is 10 bytes, "<t>" then 19 digits; keep the tail if a read splits one.
                if count - index < 10 {
                    tail = Array(bytes[index..<count])
                    break
                }
                let next = bytes[index + 1]
                if next == UInt8(ascii: "/"), bytes[index + 2] == UInt8(ascii: "m"),
                    bytes[index + 9] == UInt8(ascii: ">")
                {
                    delivered += 1
                    index += 10
                } else if next == UInt8(ascii: "t"), bytes[index + 2] == UInt8(ascii: ">") {
                    index += 3
                    stamp = 0
                    digitsLeft = 19
                    while digitsLeft > 0, index < count {
                        stamp = stamp &* 10 &+ UInt64(bytes[index] &- 48)
                        digitsLeft -= 1
                        index += 1
                    }
                    if digitsLeft == 0 { stamps.append(stamp) }
                } else {
                    index += 1
                }
            }
        }
        self.digitsLeft = digitsLeft
        self.stamp = stamp
        self.partial = tail
        guard delivered > 0 || !stamps.isEmpty else { return }
        tally.add(delivered: delivered, sentAt: stamps, receivedAt: monotonicNanoseconds(), subscriber: subscriber)
    }
}
