import Foundation
import NIOCore
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRServer
import PsEPRTesting
import Testing

/// One publisher cannot break the other subscribers of a channel: a payload that is not
/// well-formed XML, or an envelope that names two destinations, is refused with an error to its
/// sender and never forwarded.
@Suite struct PoisonPayloadTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop").appendingPathComponent("expat_subscriber.py").path

    /// Whether python3 with expat is here (always under CI).
    static let pythonHasExpat: Bool = {
        if ProcessInfo.processInfo.environment["CI"] == "true" { return true }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import xml.parsers.expat"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()  // a one-line import: it ends
        return process.terminationStatus == 0
    }()

    @Test(.enabled(if: pythonHasExpat, "python3 with xml.parsers.expat"))
    func anExpatSubscriberStaysConnectedThroughEveryPoisonPayload() async throws {
        try await withEventServer { port, _, _ in
            let subscriber = try ChildProcess(arguments: [
                "python3", Self.script, "127.0.0.1", "\(port)", "/poison/", "good-event-marker",
            ])
            defer { subscriber.stop() }
            try await eventually(seconds: 30, "the expat subscriber's lease") {
                subscriber.text.contains("READY") || !subscriber.isRunning
            }
            try #require(subscriber.text.contains("READY"), "\(subscriber.text)")

            var (_, replies, publisher) = try await loggedIn(port: port, service: "pub")
            for (index, poison) in Poison.classes.enumerated() {
                try await publisher.write(ByteBuffer(bytes: stanza(payload: poison.payload, id: "poison-\(index)")))
                let reply = try await replies.read(until: "</message>")
                #expect(
                    reply.contains("type='error'") && reply.contains("bad-request")
                        && reply.contains("id='poison-\(index)'"),
                    "\(poison.name): \(reply)"
                )
            }
            for repeated in Poison.repeatedEnvelopes {
                try await publisher.write(
                    ByteBuffer(string: repeated.stanza.replacingOccurrences(of: "/a/", with: "/poison/"))
                )
                let reply = try await replies.read(until: "</message>")
                #expect(
                    reply.contains("type='error'") && reply.contains("bad-request") && reply.contains("more than one"),
                    "\(repeated.name): \(reply)"
                )
            }
            try await publisher.write(ByteBuffer(string: eventStanza("/poison/", body: "good-event-marker")))

            let status = try await subscriber.exitStatus(seconds: 30)
            #expect(status == 0, "\(subscriber.text)")
            #expect(subscriber.text.contains("OK"), "\(subscriber.text)")
        }
    }

    @Test func theOneEventPortRefusesANULPayload() async throws {
        try await withEventServer { port, oneEventPort, _ in
            var (_, subscriber, out) = try await loggedIn(port: port)
            try await out.write(ByteBuffer(string: leaseStanza("/one/", identifier: "o")))
            _ = try await subscriber.read(until: "<op>lease</op>")
            func document(_ payload: [UInt8]) -> ByteBuffer {
                ByteBuffer(
                    bytes: Array(
                        "<inputEvent><authentication><passwordAuth><service>pusher</service><password>pw</password></passwordAuth></authentication><oneEvent><event xmlns='http://psepr.org/xs/event'><to><channel>/one/</channel></to><payload xmlns='urn:one'><v>"
                            .utf8
                    ) + payload + Array("</v></payload></event></oneEvent></inputEvent>".utf8)
                )
            }
            let poisoned = try await LoadConnection.open(port: oneEventPort)
            var poisonedReply = poisoned.inbound.makeAsyncIterator()
            try await poisoned.write(document(Array("poison".utf8) + [0x00]))
            let refusal = await poisonedReply.readToEnd()
            #expect(
                refusal.hasPrefix("<result>error: ") && refusal.contains("NUL") && !refusal.contains("\u{0}"),
                "\(refusal)"
            )

            let good = try await LoadConnection.open(port: oneEventPort)
            var goodReply = good.inbound.makeAsyncIterator()
            try await good.write(document(Array("fine".utf8)))
            #expect(await goodReply.readToEnd() == "<result>ok</result>\n")
            // The subscriber's next event is the good one: the NUL never reached it.
            let delivered = try await subscriber.read(until: "fine")
            #expect(!delivered.contains("poison") && !delivered.contains("\u{0}"))
        }
    }

    @Test func aMessageThatDoesNotParseIsRefusedAndTheStreamGoesOn() async throws {
        try await withEventServer { port, _, _ in
            var (_, subscriber, out) = try await loggedIn(port: port)
            try await out.write(ByteBuffer(string: leaseStanza("/after/", identifier: "a")))
            _ = try await subscriber.read(until: "<op>lease</op>")
            // An unusual shape (a comment in the envelope) goes to the full parser, which refuses it.
            try await out.write(
                ByteBuffer(
                    string:
                        "<message id='odd'><!-- note --><event xmlns='http://psepr.org/xs/event'><to><channel>/after/</channel></to><payload xmlns='urn:x'><v a='1' a='2'/></payload></event></message>"
                )
            )
            let reply = try await subscriber.read(until: "</message>")
            #expect(
                reply.contains("type='error'") && reply.contains("bad-request") && reply.contains("appears twice"),
                "\(reply)"
            )
            try await out.write(ByteBuffer(string: eventStanza("/after/", body: "still-here")))
            let delivered = try await subscriber.read(until: "still-here")
            #expect(!delivered.contains("a='2'"))
        }
    }
}
