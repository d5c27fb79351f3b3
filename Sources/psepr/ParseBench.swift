import Foundation
import NIOCore
import PsEPRCore
import PsEPRLoadGenerator

/// The server's per-event work without sockets: frame a stream of stanzas, read each envelope,
/// build the outbound stanza. The reference, measured in the same run, copies each stanza's
/// bytes once (what any forwarder must at least do).
struct ParseBench {
    let events: Int
    let payloadBytes: Int
    let json: Bool

    struct Result: Codable {
        var benchmark = "envelope"
        var events: Int
        var stanzaBytes: Int
        var frameOnlyPerSecond: Double
        var frameAndScanPerSecond: Double
        var frameScanAndEncodePerSecond: Double
        var copyPerSecond: Double
        var ratioToCopy: Double
        /// Bytes of outbound stanzas built, and bytes copied by the reference (which also keep the
        /// optimiser from skipping the work).
        var encodedBytes: Int
        var copiedBytes: Int
    }

    func run() throws {
        let templates = StanzaTemplates(channels: ["/bench/all/"], instance: "p", payloadBytes: payloadBytes)
        let chunk = templates.batch(count: 1000, first: 0)
        let stanzaBytes = chunk.readableBytes / 1000
        var stream = ByteBuffer(string: "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
        let rounds = max(1, events / 1000)
        for _ in 0..<rounds { stream.writeImmutableBuffer(chunk) }
        let total = rounds * 1000

        func measure(_ body: (inout ByteBuffer) throws -> Int) rethrows -> Double {
            var input = stream
            let started = ContinuousClock.now
            let count = try body(&input)
            let elapsed = ContinuousClock.now - started
            precondition(count == total, "processed \(count) of \(total)")
            return Double(total) / RouteTableBench.seconds(elapsed)
        }

        let frameOnly = try measure { input in
            var framer = XMLStreamFramer()
            var count = 0
            while let frame = try framer.decode(buffer: &input) { if case .stanza = frame { count += 1 } }
            return count
        }
        let scanned = try measure { input in
            var framer = XMLStreamFramer()
            var count = 0
            while let frame = try framer.decode(buffer: &input) {
                guard case .stanza(let stanza) = frame else { continue }
                if case .event = stanza.withUnsafeReadableBytes({ EventScanner.scan($0) }) { count += 1 }
            }
            return count
        }
        var encodedBytes = 0
        var copiedBytes = 0
        let encoded = try measure { input in
            var framer = XMLStreamFramer()
            var count = 0
            while let frame = try framer.decode(buffer: &input) {
                guard case .stanza(let stanza) = frame, case .event(let event) = stanza.withUnsafeReadableBytes({ EventScanner.scan($0) }) else { continue }
                encodedBytes &+= StanzaEncoder.messageBuffer(event, id: "m\(count)").readableBytes
                count += 1
            }
            return count
        }
        let copied = measure { input in
            var count = 0
            while input.readableBytes >= stanzaBytes, let slice = input.readSlice(length: stanzaBytes) {
                var copy = ByteBuffer()
                copy.writeImmutableBuffer(slice)
                copiedBytes &+= copy.readableBytes
                count += 1
            }
            return count
        }
        let result = Result(
            events: total, stanzaBytes: stanzaBytes, frameOnlyPerSecond: frameOnly, frameAndScanPerSecond: scanned,
            frameScanAndEncodePerSecond: encoded, copyPerSecond: copied, ratioToCopy: encoded / copied, encodedBytes: encodedBytes, copiedBytes: copiedBytes
        )
        if json {
            printJSONLine(result)
        } else {
            print(String(
                format: "envelope, %d-byte stanzas: frame %.0f/s; frame+scan %.0f/s; frame+scan+encode %.0f/s (%.0f ns each); copy %.0f/s; ratio %.3f",
                stanzaBytes, frameOnly, scanned, encoded, 1e9 / encoded, copied, result.ratioToCopy
            ))
        }
    }
}
