import Foundation
import Logging
import PsEPRClient
import PsEPRCore
import PsEPRLoadGenerator
import PsEPRServer
import PsEPRTesting
import Testing

/// Options for tests: quick timers, quick reconnection.
func fastOptions(answerTimeout: Duration = .seconds(5), retries: Int = 3) -> EventClient.Options {
    var options = EventClient.Options()
    options.initialBackoff = .milliseconds(20)
    options.maximumBackoff = .milliseconds(200)
    options.timerResolution = .milliseconds(20)
    options.leaseTiming.answerTimeout = answerTimeout
    options.leaseTiming.maximumRetries = retries
    return options
}

func identity(_ service: String) -> ServiceIdentity {
    ServiceIdentity(service: service, password: "pw", instance: "\(service)-1")
}

extension Lease {
    /// The next events, at most `count`, within a few seconds.
    func next(_ count: Int) async throws -> [Event] {
        try await within(seconds: 10, "\(count) event(s) on \(channel)") {
            var received: [Event] = []
            for await event in self.events {
                received.append(event)
                if received.count == count { break }
            }
            return received
        }
    }

    /// Waits for a state matching `predicate`.
    func waitFor(
        _ what: String,
        seconds: Int = 10,
        _ predicate: @escaping @Sendable (LeaseState) -> Bool
    ) async throws -> LeaseState {
        if predicate(state) { return state }
        return try await within(seconds: seconds, what) {
            for await state in self.states where predicate(state) { return state }
            return self.state
        }
    }
}

@Suite struct ClientTests {
    @Test func leasesDeliverTheirChannelsAndBelowFilteredByNamespace() async throws {
        try await withEventServer { port, _, _ in
            let server = ServerAddress(host: "127.0.0.1", port: port)
            try await EventClient.withClient(
                identity: identity("subscriber"),
                servers: [server],
                options: fastOptions()
            ) { subscriber in
                let filtered = try await subscriber.lease(ChannelName("/a/"), namespace: "urn:x")
                let everything = try await subscriber.lease(ChannelName("/b/"))
                #expect(await filtered.settled() == .active(grantedSeconds: 3600))
                #expect(await everything.settled().isActive)
                try await EventClient.withClient(
                    identity: identity("publisher"),
                    servers: [server],
                    options: fastOptions()
                ) { publisher in
                    let payload = { (namespace: String, text: String) in
                        Array("<payload xmlns='\(namespace)'><v>\(text)</v></payload>".utf8)
                    }
                    try await publisher.send(
                        Event(
                            channel: ChannelName("/a/b/"),
                            payloadNamespace: "urn:x",
                            payload: payload("urn:x", "one")
                        )
                    )
                    try await publisher.send(
                        Event(
                            channel: ChannelName("/a/"),
                            payloadNamespace: "urn:y",
                            payload: payload("urn:y", "filtered")
                        )
                    )
                    try await publisher.send(
                        Event(
                            channel: ChannelName("/ab/"),
                            payloadNamespace: "urn:x",
                            payload: payload("urn:x", "not below")
                        )
                    )
                    try await publisher.send(
                        Event(channel: ChannelName("/a/"), payloadNamespace: "urn:x", payload: payload("urn:x", "two"))
                    )
                    try await publisher.send(
                        Event(
                            channel: ChannelName("/b/c/d/"),
                            payloadNamespace: "urn:z",
                            payload: payload("urn:z", "three")
                        )
                    )
                }
                let onA = try await filtered.next(2)
                #expect(
                    onA.map { String(decoding: $0.payload, as: UTF8.self) } == [
                        "<payload xmlns='urn:x'><v>one</v></payload>", "<payload xmlns='urn:x'><v>two</v></payload>",
                    ]
                )
                #expect(onA.first?.channel.rawValue == "/a/b/")
                #expect(onA.first?.fromService == "publisher")
                #expect(onA.first?.fromInstance == "publisher-1")
                let onB = try await everything.next(1)
                #expect(onB.first?.channel.rawValue == "/b/c/d/")
            }
        }
    }

    @Test func aReleasedLeaseStopsDelivery() async throws {
        try await withEventServer { port, _, _ in
            let server = ServerAddress(host: "127.0.0.1", port: port)
            try await EventClient.withClient(
                identity: identity("subscriber"),
                servers: [server],
                options: fastOptions()
            ) { client in
                let released = try await client.lease(ChannelName("/r/"))
                let kept = try await client.lease(ChannelName("/"))
                #expect(await released.settled().isActive)
                #expect(await kept.settled().isActive)
                await released.release()
                #expect(released.state == .released)
                try await client.send(
                    Event(channel: ChannelName("/r/x/"), attribute: AttributePayload(field: "f", value: "v"))
                )
                // The event reaches the lease still held; the released one's stream has finished.
                #expect(try await kept.next(1).count == 1)
                var leftover = 0
                for await _ in released.events { leftover += 1 }
                #expect(leftover == 0)
            }
        }
    }

    @Test func aRefusedLeaseIsReportedLost() async throws {
        try await withEventServer(configure: { $0.maximumLeasesPerConnection = 1 }) { port, _, _ in
            try await EventClient.withClient(
                identity: identity("greedy"),
                servers: [ServerAddress(host: "127.0.0.1", port: port)],
                options: fastOptions()
            ) { client in
                let first = try await client.lease(ChannelName("/one/"))
                #expect(await first.settled().isActive)
                let second = try await client.lease(ChannelName("/two/"))
                guard case .lost(let reason) = await second.settled() else {
                    throw TestFailure("the second lease was not refused: \(second.state)")
                }
                #expect(reason.contains("refused"))
                #expect(first.state.isActive)
            }
        }
    }

    @Test func aLeaseThatCannotBeRenewedIsReportedLostNotActive() async throws {
        let client = EventClient(
            identity: identity("orphan"),
            servers: [ServerAddress(host: "127.0.0.1", port: 1)],
            options: fastOptions(answerTimeout: .milliseconds(100), retries: 2)
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // The client's only server does not exist: the request is never answered.
            tasks.addTask { try await client.run() }
            let lease = try await client.lease(ChannelName("/nowhere/"), seconds: 60)
            let final = try await lease.waitFor("the lease to be lost") { $0.isFinal }
            #expect(final == .lost(reason: "no grant after 2 retries"))
            await client.close()
            try await tasks.waitForAll()
        }
    }

    @Test func aLeaseGrantedThenOrphanedByItsServerIsReportedLost() async throws {
        // The client's timers run on a clock the test moves: nothing times out while the lease
        // is granted, however loaded the machine, and the renewal comes when the clock says.
        let clock = ManualClock()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let (client, lease) = try await withEventServer(configure: { $0.leaseMinimumSeconds = 1 }) { port, _, _ in
                let client = EventClient(
                    identity: identity("orphan"),
                    servers: [ServerAddress(host: "127.0.0.1", port: port)],
                    options: fastOptions(answerTimeout: .seconds(1), retries: 2),
                    clock: clock
                )
                tasks.addTask { try await client.run() }
                try await client.waitUntilConnected()
                let lease = try await client.lease(ChannelName("/short/"), seconds: 2)
                let settled = await lease.settled()
                #expect(settled.isActive, "\(settled)")
                return (client, lease)
            }
            // The server is gone: the renewal at 1.6 s goes unanswered, then two retries a
            // second apart. The clock moves only while one of the client's loops waits on it.
            var steps = 0
            while !lease.state.isFinal, steps < 1_000 {
                await clock.waitForSleepers()
                clock.advance(by: .milliseconds(50))
                steps += 1
            }
            let final = try await lease.waitFor("the orphaned lease to be lost") { $0.isFinal }
            #expect(final == .lost(reason: "no grant after 2 retries"))
            #expect(clock.now.offset >= .seconds(3.6), "lost before the renewal and both retries were due")
            await client.close()
            try await tasks.waitForAll()
        }
    }

    @Test func theClientReconnectsAndLeasesAgainWithTheSameIdentifier() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let firstRouter = EventRouter()
            let (client, lease, port) = try await withEventServer(router: firstRouter) { port, _, _ in
                let client = EventClient(
                    identity: identity("steady"),
                    servers: [ServerAddress(host: "127.0.0.1", port: port)],
                    options: fastOptions()
                )
                tasks.addTask { try await client.run() }
                try await client.waitUntilConnected()
                let lease = try await client.lease(ChannelName("/steady/"))
                #expect(await lease.settled().isActive)
                #expect(firstRouter.leaseIdentifiers == [lease.identifier])
                return (client, lease, port)
            }
            // A new server on the same port knows nothing until the client asks again.
            let secondRouter = EventRouter()
            try await withEventServer(configure: { $0.clientPort = port }, router: secondRouter) { _, _, _ in
                try await within(seconds: 10, "the lease to be asked for and granted again") {
                    var renewing = false
                    for await state in lease.states {
                        if state == .renewing { renewing = true }
                        if renewing, case .active = state { return }
                    }
                }
                #expect(await client.connectionCount == 2)
                #expect(secondRouter.leaseIdentifiers == [lease.identifier])
                try await EventClient.withClient(
                    identity: identity("publisher"),
                    servers: [ServerAddress(host: "127.0.0.1", port: port)],
                    options: fastOptions()
                ) { publisher in
                    try await publisher.send(
                        Event(
                            channel: ChannelName("/steady/after/"),
                            attribute: AttributePayload(field: "after", value: "restart")
                        )
                    )
                }
                #expect(try await lease.next(1).first?.channel.rawValue == "/steady/after/")
            }
            await client.close()
            try await tasks.waitForAll()
        }
    }

    @Test func closeEndsTheRunEvenDuringABackOffPause() async throws {
        var options = fastOptions()
        options.initialBackoff = .seconds(60)
        options.maximumBackoff = .seconds(60)
        let client = EventClient(
            identity: identity("patient"),
            servers: [ServerAddress(host: "127.0.0.1", port: 1)],
            options: options
        )
        try await within(seconds: 10, "run() to return after close()") {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await client.run() }
                // The only server refuses at once, so the client is soon in its 30–60 s pause.
                let lease = try await client.lease(ChannelName("/x/"))
                await client.close()
                #expect(lease.state == .released)
                try await tasks.waitForAll()
            }
        }
    }

    @Test func aWrongPasswordStopsTheClientWithAClearError() async throws {
        var accounts = AccountTable()
        accounts.set(service: "stork", password: "right")
        try await withEventServer(configure: { $0.accounts = accounts }) { port, _, _ in
            let wrong = ServiceIdentity(service: "stork", password: "wrong", instance: "x")
            await #expect(throws: EventClient.ClientError.authenticationFailed(server: "127.0.0.1")) {
                try await EventClient.withClient(
                    identity: wrong,
                    servers: [ServerAddress(host: "127.0.0.1", port: port)],
                    options: fastOptions()
                ) { _ in }
            }
            let right = ServiceIdentity(service: "stork", password: "right", instance: "x")
            try await EventClient.withClient(
                identity: right,
                servers: [ServerAddress(host: "127.0.0.1", port: port)],
                options: fastOptions()
            ) { client in
                #expect(await client.connectedServer?.port == port)
            }
        }
    }

    @Test func oneEventSendsAreConfirmedOrRefusedWithTheReason() async throws {
        var accounts = AccountTable()
        accounts.set(service: "pusher", password: "right")
        accounts.set(service: "subscriber", password: "pw")
        try await withEventServer(configure: { $0.accounts = accounts }) { port, oneEventPort, _ in
            try await EventClient.withClient(
                identity: identity("subscriber"),
                servers: [ServerAddress(host: "127.0.0.1", port: port)],
                options: fastOptions()
            ) { subscriber in
                let lease = try await subscriber.lease(ChannelName("/pushed/"))
                #expect(await lease.settled().isActive)
                let target = ServerAddress(host: "127.0.0.1", port: oneEventPort)
                let event = Event(
                    channel: try ChannelName("/pushed/file/"),
                    attribute: AttributePayload(field: "metafile", value: "<signed/>")
                )
                #expect(
                    try await OneEventSender.send(
                        event,
                        as: ServiceIdentity(service: "pusher", password: "right", instance: "node7"),
                        to: target
                    )
                )
                await #expect(throws: OneEventSender.Refusal(reason: "not authorized")) {
                    try await OneEventSender.send(
                        event,
                        as: ServiceIdentity(service: "pusher", password: "wrong", instance: "node7"),
                        to: target
                    )
                }
                let received = try await lease.next(1)
                #expect(received.first?.fromService == "pusher")
                #expect(try AttributePayload(payload: received.first!.payload).value == "<signed/>")
            }
        }
    }
}
