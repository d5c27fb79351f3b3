import Logging
import NIOCore
import NIOEmbedded
import PsEPRCore
import PsEPRTesting
import Testing

@testable import PsEPRServer

/// The OneEvent port's handler on an `EmbeddedChannel`: one document in, one `<result>` line
/// out and the connection closed; the timeout runs on the embedded loop's own clock.
@Suite struct OneEventHandlerTests {
    let router = EventRouter()

    func sender(timeoutSeconds: Int = 30, accounts: AccountTable? = nil) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(XMLStreamFramer(mode: .document, limits: XMLStreamFramer.Limits()))
        )
        try channel.pipeline.syncOperations.addHandler(
            OneEventHandler(
                accounts: accounts,
                timeoutSeconds: timeoutSeconds,
                router: router,
                logger: Logger(label: "psepr.test")
            )
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 23343)).wait()
        return channel
    }

    func reply(of channel: EmbeddedChannel) throws -> String {
        (channel.eventLoop as! EmbeddedEventLoop).run()
        var text = ""
        while let chunk = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: chunk) }
        return text
    }

    @Test func aDocumentIsRoutedAndAnsweredOkThenTheConnectionCloses() throws {
        let inbox = ServiceInbox(name: "watcher", propagates: false)
        router.subscribe(inbox, channel: try ChannelName("/one/"), namespace: nil)
        let channel = try sender()
        let event = Event(
            channel: try ChannelName("/one/"),
            payloadNamespace: "urn:x",
            payload: Array("<payload xmlns='urn:x'>hi</payload>".utf8)
        )
        try channel.writeInbound(ByteBuffer(bytes: ClientStanzas.oneEvent(event, service: "sender", password: "pw")))
        #expect(try reply(of: channel) == "<result>ok</result>\n")
        #expect(!channel.isActive)
        #expect(router.statistics.eventsRouted == 1)
    }

    @Test func noDocumentWithinTheTimeoutIsAnsweredWithAnErrorOnTheLoopsClock() throws {
        let channel = try sender(timeoutSeconds: 5)
        try channel.writeInbound(ByteBuffer(string: "<inputEvent><authentication>"))
        let loop = channel.eventLoop as! EmbeddedEventLoop
        loop.advanceTime(by: .seconds(4))
        #expect(try reply(of: channel).isEmpty)
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(try reply(of: channel) == "<result>error: no event within 5 seconds</result>\n")
        #expect(!channel.isActive)
        #expect(router.statistics.eventsRouted == 0)
    }

    @Test func aBrokenDocumentAndALeaseAreRefusedWithReasons() throws {
        let broken = try sender()
        try broken.writeInbound(ByteBuffer(string: "<inputEvent><x></y></inputEvent>"))
        let brokenReply = try reply(of: broken)
        #expect(brokenReply.hasPrefix("<result>error: ") && brokenReply.hasSuffix("</result>\n"), "\(brokenReply)")
        #expect(!broken.isActive)

        let leasing = try sender()
        let lease = LeaseOperation(operation: .register, identifier: "l1", duration: 60)
        let event = Event(
            channel: try ChannelName("/one/"),
            payloadNamespace: LeaseOperation.namespace,
            payload: lease.payloadBytes
        )
        try leasing.writeInbound(ByteBuffer(bytes: ClientStanzas.oneEvent(event, service: "s", password: "pw")))
        #expect(try reply(of: leasing) == "<result>error: leases need a client connection</result>\n")
    }
}
