import PsEPRClient
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRServer
import PsEPRTesting
import Testing

/// With default settings nothing is lost or duplicated, and each publisher's events on each
/// channel arrive in the order sent.
@Suite struct DeliveryOrderTests {
    static let publishers = 3
    static let channels = ["/order/a/", "/order/b/x/"]
    static let eventsPerChannel = 400

    @Test func everyEventArrivesOnceInOrderPerPublisherAndChannel() async throws {
        try await withEventServer { port, _, _ in
            let server = ServerAddress(host: "127.0.0.1", port: port)
            let options = {
                var options = fastOptions()
                options.eventBufferSize = 100_000
                return options
            }()
            let expected = Self.publishers * Self.channels.count * Self.eventsPerChannel
            try await withThrowingTaskGroup(of: [String: [Int]].self) { tasks in
                // Three subscribers, each leasing /order/ and recording (publisher, channel) → sequence.
                let (ready, readySink) = AsyncStream.makeStream(of: Void.self)
                for index in 0..<3 {
                    tasks.addTask {
                        try await EventClient.withClient(
                            identity: identity("reader\(index)"),
                            servers: [server],
                            options: options
                        ) { client in
                            let lease = try await client.lease(ChannelName("/order/"))
                            guard await lease.settled().isActive else { throw TestFailure("lease not granted") }
                            readySink.yield()
                            return try await within(seconds: 60, "\(expected) events") {
                                var sequences: [String: [Int]] = [:]
                                var received = 0
                                for await event in lease.events {
                                    let attribute = try AttributePayload(payload: event.payload)
                                    sequences["\(event.fromInstance ?? "?") \(event.channel)", default: []].append(
                                        Int(attribute.value) ?? -1
                                    )
                                    received += 1
                                    if received == expected { break }
                                }
                                return sequences
                            }
                        }
                    }
                }
                var granted = 0
                for await _ in ready {
                    granted += 1
                    if granted == 3 { break }
                }
                try await withThrowingTaskGroup(of: Void.self) { senders in
                    for publisher in 0..<Self.publishers {
                        senders.addTask {
                            let me = ServiceIdentity(service: "writer", password: "pw", instance: "writer\(publisher)")
                            try await EventClient.withClient(identity: me, servers: [server], options: options) {
                                client in
                                for sequence in 0..<Self.eventsPerChannel {
                                    for channel in Self.channels {
                                        try await client.send(
                                            Event(
                                                channel: ChannelName(channel),
                                                attribute: AttributePayload(field: "seq", value: "\(sequence)")
                                            )
                                        )
                                    }
                                }
                            }
                        }
                    }
                    try await senders.waitForAll()
                }
                for try await sequences in tasks {
                    #expect(sequences.count == Self.publishers * Self.channels.count)
                    for (stream, numbers) in sequences {
                        #expect(
                            numbers == Array(0..<Self.eventsPerChannel),
                            "\(stream): \(numbers.count) events, first out of order at \(zip(numbers, 0...).first { $0 != $1 }.map { "\($0)" } ?? "-")"
                        )
                    }
                }
            }
        }
    }
}
