import Foundation
import Logging
import NIOCore
import NIOEmbedded
import PsEPRCore
import PsEPRTesting
import Testing

@testable import PsEPRServer

/// The client port's connection handler on `EmbeddedChannel`s sharing one router: logins,
/// leases and events as bytes in and bytes out, with no sockets and no event-loop threads.
@Suite struct ClientConnectionPipelineTests {
    final class Connection {
        let channel = EmbeddedChannel()

        init(router: EventRouter, configuration: EventServerConfiguration, connections: ConnectionCount) throws {
            let gate = ReadGate(channel: channel)
            try channel.pipeline.syncOperations.addHandler(gate)
            try channel.pipeline.syncOperations.addHandler(
                ClientConnectionHandler(
                    configuration: configuration,
                    router: router,
                    logger: Logger(label: "psepr.test"),
                    connections: connections,
                    gate: gate
                )
            )
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5222)).wait()
        }

        /// Writes `text` as one read, or in reads of `chunk` bytes, and returns what the server
        /// wrote back once its loop has run.
        @discardableResult
        func send(_ text: String, chunk: Int? = nil) throws -> String {
            let bytes = Array(text.utf8)
            let size = chunk ?? max(bytes.count, 1)
            for start in stride(from: 0, to: bytes.count, by: size) {
                try channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]))
            }
            return try written()
        }

        /// What the server has written since the last look.
        func written() throws -> String {
            (channel.eventLoop as! EmbeddedEventLoop).run()
            var text = ""
            while let chunk = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: chunk) }
            return text
        }

        func logIn(_ service: String) throws {
            let header = try send(
                "<?xml version='1.0'?><stream:stream to='x' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
            )
            #expect(header.contains("<stream:features>"))
            let reply = try send(
                "<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>\(service)</username><password>pw</password><resource>r</resource></query></iq>"
            )
            #expect(reply.contains("type='result'") && reply.contains("id='a1'"), "\(reply)")
        }
    }

    let router = EventRouter()
    let configuration = EventServerConfiguration.loopback(serverName: "embedded.test")
    let connections = ConnectionCount()

    func connection() throws -> Connection {
        try Connection(router: router, configuration: configuration, connections: connections)
    }

    @Test func anEventReachesTheLeaseHolderInOrderWhateverTheReadSizes() throws {
        let subscriber = try connection()
        let publisher = try connection()
        try subscriber.logIn("sub")
        let grant = try subscriber.send(leaseStanza("/embedded/", identifier: "l1"))
        #expect(grant.contains("<op>lease</op>"), "\(grant)")
        try publisher.logIn("pub")
        // One read, then the next events split into reads of 7 bytes: framing carries across reads.
        try publisher.send(eventStanza("/embedded/", body: "one"))
        try publisher.send(
            eventStanza("/embedded/a/", body: "two") + eventStanza("/embedded/", body: "three"),
            chunk: 7
        )
        try publisher.send(eventStanza("/elsewhere/", body: "not leased"))
        let delivered = try subscriber.written()
        let bodies = ["<v>one</v>", "<v>two</v>", "<v>three</v>"].map { delivered.range(of: $0)?.lowerBound }
        #expect(bodies.allSatisfy { $0 != nil }, "\(delivered)")
        #expect(bodies.compactMap { $0 } == bodies.compactMap { $0 }.sorted(), "order per publisher and channel")
        #expect(!delivered.contains("not leased"))
        #expect(router.statistics.dropped == 0)
    }

    /// A burst with one envelope in one read is routed as a run (counted once, written into the
    /// subscribers' batch in one pass): every subscriber gets every event, in order, numbered on
    /// from the event before, and the router counts each; an event of another envelope in the
    /// middle of the burst keeps its place.
    @Test func aBurstInOneReadReachesEverySubscriberInOrderAndIsCountedWhole() throws {
        let subscribers = try (0..<2).map { _ in try connection() }
        for (index, subscriber) in subscribers.enumerated() {
            try subscriber.logIn("sub\(index)")
            #expect(try subscriber.send(leaseStanza("/burst/", identifier: "b\(index)")).contains("<op>lease</op>"))
        }
        let publisher = try connection()
        try publisher.logIn("pub")
        // The first event gives the reader its envelope and its lookup; the burst then repeats them.
        try publisher.send(eventStanza("/burst/", body: "0"))
        let bodies = (1...300).map { $0 == 150 ? "other-\($0)" : "\($0)" }
        let burst = bodies.map {
            $0.hasPrefix("other") ? eventStanza("/burst/a/", body: $0) : eventStanza("/burst/", body: $0) + "\n"
        }
        try publisher.send(burst.joined())
        for subscriber in subscribers {
            let delivered = try subscriber.written()
            let found = delivered.components(separatedBy: "<v>").dropFirst().map { $0.prefix { $0 != "<" } }
            #expect(found == ["0"] + bodies.map { Substring($0) }, "every event, in order")
            let numbers = delivered.components(separatedBy: "<message id='m").dropFirst().compactMap {
                UInt64($0.prefix { $0 != "'" })
            }
            #expect(numbers.count == 301 && zip(numbers, numbers.dropFirst()).allSatisfy { $1 == $0 + 1 })
        }
        let statistics = router.statistics
        #expect(statistics.eventsRouted == 301 && statistics.deliveries == 602 && statistics.dropped == 0)
        #expect(statistics.eventsBySource[.client] == 301)
    }

    @Test func aMalformedStanzaIsRefusedAndTheStreamGoesOn() throws {
        let client = try connection()
        try client.logIn("careless")
        let refusal = try client.send("<message id='m'><a></b></message>")
        #expect(refusal.contains("<bad-request") && refusal.contains("&lt;a&gt; closed by &lt;/b&gt;"), "\(refusal)")
        #expect(client.channel.isActive)
        let grant = try client.send(leaseStanza("/embedded/", identifier: "after"))
        #expect(grant.contains("<op>lease</op>"), "\(grant)")
    }

    @Test func anOversizedStanzaEndsThisConnectionOnly() throws {
        var small = configuration
        small.limits.maximumStanzaBytes = 1024
        let client = try Connection(router: router, configuration: small, connections: connections)
        let other = try connection()
        try client.logIn("flood")
        try other.logIn("good")
        let farewell = try client.send(eventStanza("/embedded/", body: String(repeating: "x", count: 2000)))
        #expect(farewell.contains("not-well-formed"), "\(farewell)")
        #expect(farewell.hasSuffix("</stream:stream>"), "\(farewell)")
        #expect(!client.channel.isActive)
        #expect(other.channel.isActive)
    }

    @Test func anEventBeforeLoginIsRefused() throws {
        let client = try connection()
        _ = try client.send(
            "<?xml version='1.0'?><stream:stream to='x' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        let reply = try client.send(eventStanza("/embedded/", body: "early"))
        #expect(reply.contains("not-authorized") && !reply.contains("<v>early</v>"), "\(reply)")
        #expect(client.channel.isActive, "a refused stanza leaves the stream open")
    }
}
