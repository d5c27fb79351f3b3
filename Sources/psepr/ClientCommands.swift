import ArgumentParser
import Foundation
import Logging
import PsEPRClient
import PsEPRCore

/// `psepr publish`: sends events over a client connection.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Send events to a channel over a client connection."
    )

    @OptionGroup var client: ClientOptions
    @OptionGroup var content: PayloadOptions

    @Option(help: "How many copies to send.")
    var count: Int = 1

    func run() async throws {
        let event = try content.event()
        let servers = try await client.serverList()
        try await EventClient.withClient(
            identity: client.identity,
            servers: servers,
            options: client.clientOptions,
            logger: quietLogger()
        ) { connection in
            for _ in 0..<max(1, count) { try await connection.send(event) }
        }
        print("Sent \(max(1, count)) event(s) to \(content.channel)")
    }
}

/// `psepr watch`: prints the events on a channel (the original's WatchChannel).
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Lease a channel and print its events until interrupted or the lease is lost."
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "The channel to watch; events below it arrive too.")
    var channel: String = "/"

    @Option(help: "Only payloads in this namespace.")
    var type: String?

    @Option(help: "Lease length asked for, seconds.")
    var leaseSeconds: Int = 3600

    @Flag(help: "Print each event's XML as received instead of a summary.")
    var raw = false

    @Option(help: "Stop after this many events.")
    var count: Int?

    func run() async throws {
        let channelName = try ChannelName(channel)
        let servers = try await client.serverList()
        let raw = self.raw
        let limit = count
        let (message, succeeded): (String, Bool) = try await EventClient.withClient(
            identity: client.identity,
            servers: servers,
            options: client.clientOptions,
            logger: quietLogger()
        ) { connection in
            let lease = try await connection.lease(channelName, namespace: type, seconds: leaseSeconds)
            let settled = await lease.settled()
            guard settled.isActive else { return ("Lease not granted: \(settled)", false) }
            FileHandle.standardError.write(Data("Watching \(channelName) (lease granted: \(settled))\n".utf8))
            // Say so when the server goes away and when the lease is back.
            let reporter = Task {
                var previous = settled
                for await state in lease.states where !state.isFinal && state != previous {
                    FileHandle.standardError.write(Data("Lease \(state)\n".utf8))
                    previous = state
                }
            }
            defer { reporter.cancel() }
            var received = 0
            for await event in lease.events {
                print(raw ? String(decoding: StanzaEncoder.eventElement(event), as: UTF8.self) : Self.summary(event))
                received += 1
                if let limit, received >= limit { return ("Received \(received) event(s)", true) }
            }
            return ("Lease ended: \(lease.state)", false)
        }
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        if !succeeded { throw ExitCode(2) }
    }

    static func summary(_ event: Event) -> String {
        let from = [event.fromService, event.fromInstance].compactMap { $0 }.joined(separator: "/")
        if let attribute = try? AttributePayload(payload: event.payload) {
            return "\(event.channel) from \(from): \(attribute.field) = \(attribute.value)"
        }
        return "\(event.channel) from \(from): \(String(decoding: event.payload, as: UTF8.self))"
    }
}

/// `psepr send-one`: one event over the OneEvent port, no login session.
struct SendOneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-one",
        abstract: "Send one event over the OneEvent port (23343)."
    )

    @OptionGroup var client: ClientOptions
    @OptionGroup var content: PayloadOptions

    func validate() throws {
        // The OneEvent port speaks plain TCP only (the Server Guide's protocol has no TLS), so
        // the password would cross the network in the clear: say so rather than ignore the flag.
        if client.tls == ClientTLSOptions.Mode.required.rawValue || client.trustCertificate != nil {
            throw ValidationError(
                "the OneEvent port has no TLS, so send-one sends its password in the clear; use `psepr publish --tls required` to publish over TLS"
            )
        }
    }

    func run() async throws {
        let server = try await client.serverList(
            defaultPort: ServerAddress.defaultOneEventPort,
            connectionType: "OneEvent"
        ).randomElement()!
        let confirmed = try await OneEventSender.send(
            try content.event(),
            as: client.identity,
            to: server,
            timeout: .milliseconds(Int64(client.giveUpAfter * 1000))
        )
        print(confirmed ? "Accepted by \(server)" : "Sent to \(server) (it gave no answer)")
    }
}

/// Client commands report through their output; the client's own log shows what goes wrong
/// (failed attempts, lost servers) and nothing routine.
func quietLogger() -> Logger {
    var logger = Logger(label: "psepr.client") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .notice
    return logger
}
