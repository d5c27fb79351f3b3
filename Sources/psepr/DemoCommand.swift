import ArgumentParser
import Foundation
import Logging
import PsEPRClient
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRServer

/// `psepr demo`: an embedded server on loopback, subscribers and a publisher over the real
/// client protocol, with counts and rates.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a server on loopback with subscribers and a publisher; print counts and rates."
    )

    @Option(help: "Subscribing clients, each leasing /demo/.")
    var subscribers: Int = 10

    @Option(help: "Events the publisher sends to /demo/sensors/.")
    var events: Int = 20_000

    @Option(help: "Bytes of payload text per event.")
    var payloadBytes: Int = 200

    @Option(
        help:
            "Most events the publisher runs ahead of the slowest subscriber (keeps the server's queues from overflowing)."
    )
    var window: Int = 500

    func validate() throws {
        guard subscribers >= 1, events >= 1, payloadBytes >= 0, window >= 1 else {
            throw ValidationError("counts must be positive")
        }
    }

    func run() async throws {
        var logger = Logger(label: "psepr.demo") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        try await EventServer.withRunning(configuration: .loopback(serverName: "demo.localhost"), logger: logger) {
            clientPort,
            oneEventPort in
            try await exercise(clientPort: clientPort, oneEventPort: oneEventPort, logger: logger)
        }
    }

    private func exercise(clientPort: Int, oneEventPort: Int, logger: Logger) async throws {
        let server = ServerAddress(host: "127.0.0.1", port: clientPort)
        print(
            "PsEPR demo: server on 127.0.0.1:\(clientPort) (OneEvent \(oneEventPort)), \(subscribers) subscribers, \(events) events of \(payloadBytes) payload bytes"
        )
        var clientOptions = EventClient.Options()
        clientOptions.eventBufferSize = events + 16
        let options = clientOptions
        let counts = DemoCounts(subscribers: subscribers)
        let channel = try ChannelName("/demo/")
        let target = events
        let clientLogger = logger

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // Subscribers: each leases /demo/ and counts what arrives, until it has every event
            // plus the OneEvent one.
            let (ready, readySink) = AsyncStream.makeStream(of: Void.self)
            for index in 0..<subscribers {
                tasks.addTask {
                    let identity = ServiceIdentity(
                        service: "demo_subscriber",
                        password: "",
                        instance: "subscriber-\(index)"
                    )
                    try await EventClient.withClient(
                        identity: identity,
                        servers: [server],
                        options: options,
                        logger: clientLogger
                    ) { client in
                        let lease = try await client.lease(channel, seconds: 600)
                        guard await lease.settled().isActive else {
                            throw ValidationError("subscriber \(index) was not granted its lease")
                        }
                        readySink.yield()
                        for await event in lease.events {
                            if event.payloadNamespace == AttributePayload.namespace { counts.received(by: index) }
                            if counts.count(of: index) >= target + 1 { break }
                        }
                    }
                }
            }
            var granted = 0
            for await _ in ready {
                granted += 1
                if granted == subscribers { break }
            }
            print("Leases granted: \(granted)")

            // The publisher: one client connection, pacing itself against the slowest subscriber.
            let value = String(repeating: "x", count: payloadBytes)
            let started = ContinuousClock.now
            let identity = ServiceIdentity(service: "demo_publisher", password: "", instance: "publisher")
            try await EventClient.withClient(
                identity: identity,
                servers: [server],
                options: options,
                logger: clientLogger
            ) { client in
                for number in 0..<target {
                    if number - counts.slowest > window { await counts.waitUntilSlowest(reaches: number - window) }
                    let event = Event(
                        channel: try ChannelName("/demo/sensors/"),
                        attribute: AttributePayload(field: "reading-\(number)", value: value)
                    )
                    try await client.send(event)
                }
            }
            let published = ContinuousClock.now - started
            // One more event through the OneEvent port, which every subscriber also receives.
            let oneEvent = Event(
                channel: try ChannelName("/demo/oneevent/"),
                attribute: AttributePayload(field: "one", value: "event")
            )
            try await OneEventSender.send(
                oneEvent,
                as: ServiceIdentity(service: "demo_oneevent", password: "", instance: "sender"),
                to: ServerAddress(host: "127.0.0.1", port: oneEventPort)
            )

            // Every subscriber has everything, or a minute has passed (the rest are counted lost).
            await withTaskGroup(of: Void.self) { waiting in
                waiting.addTask { await counts.waitUntilSlowest(reaches: target + 1) }
                waiting.addTask { try? await Task.sleep(for: .seconds(60)) }
                await waiting.next()
                waiting.cancelAll()
            }
            let delivered = ContinuousClock.now - started
            tasks.cancelAll()

            let seconds = { (duration: Duration) in
                Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            }
            let total = counts.total
            let expected = subscribers * (target + 1)
            print(
                String(
                    format: "Published: %d events in %.2f s (%.0f events/s)",
                    target,
                    seconds(published),
                    Double(target) / seconds(published)
                )
            )
            print(
                String(
                    format: "Delivered: %d of %d (%.0f events/s over %d subscribers)",
                    total,
                    expected,
                    Double(total) / seconds(delivered),
                    subscribers
                )
            )
            print("Lost: \(expected - total)")
        }
    }
}

/// Events received by each subscriber.
final class DemoCounts: Sendable {
    private let counts: WatchedValue<[Int]>

    init(subscribers: Int) { counts = WatchedValue([Int](repeating: 0, count: subscribers)) }

    func received(by subscriber: Int) { counts.update { $0[subscriber] += 1 } }
    func count(of subscriber: Int) -> Int { counts.read { $0[subscriber] } }
    var slowest: Int { counts.read { $0.min() ?? 0 } }
    var total: Int { counts.read { $0.reduce(0, +) } }

    /// Returns once every subscriber has received `target` events (or the task is cancelled).
    func waitUntilSlowest(reaches target: Int) async {
        await counts.wait { ($0.min() ?? 0) >= target }
    }
}
