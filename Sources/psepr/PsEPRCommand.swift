import ArgumentParser
import Foundation
import PsEPRClient
import PsEPRCore
import ServerOperations

/// The `psepr` command: the PsEPR event router and its clients.
@main
struct PsEPRCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "psepr",
        abstract: "PsEPR, a publish/subscribe event router.",
        version: BuildInfo.versionLine(command: "psepr"),
        subcommands: [
            DemoCommand.self, ServerCommand.self, PublishCommand.self, WatchCommand.self, SendOneCommand.self, AccountsCommand.self,
            BenchCommand.self, PeersCommand.self, MeshDemoCommand.self,
        ]
    )
}

/// How a client command finds a server and who it logs in as.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "A server as host[:port] (repeatable; one is chosen at random). Default localhost.")
    var servers: [String] = []

    @Option(help: "A jClient.xml-style server list: every element holding <server> and <port>.")
    var serversFile: String?

    @Option(help: "The service to log in as.")
    var service: String = "psepr_cli"

    @Option(help: "The service's password (default: $PSEPR_PASSWORD, else empty).")
    var password: String?

    @Option(help: "The instance (XMPP resource) to run as. Default: this host's name.")
    var instance: String?

    var identity: ServiceIdentity {
        ServiceIdentity(
            service: service, password: password ?? ProcessInfo.processInfo.environment["PSEPR_PASSWORD"] ?? "",
            instance: instance ?? ProcessInfo.processInfo.hostName
        )
    }

    /// The servers from `--server` and `--servers-file`, or localhost on `defaultPort`.
    func serverList(defaultPort: Int = ServerAddress.defaultClientPort) throws -> [ServerAddress] {
        var list = try servers.map { try ServerAddress(parsing: $0, defaultPort: defaultPort) }
        if let serversFile {
            guard let data = FileManager.default.contents(atPath: serversFile) else { throw ValidationError("cannot read \(serversFile)") }
            list += try ServerAddress.list(fromXML: data)
        }
        return list.isEmpty ? [ServerAddress(host: "localhost", port: defaultPort)] : list
    }
}

/// What an event carries, from the command line.
struct PayloadOptions: ParsableArguments {
    @Option(help: "The channel, e.g. /org/example/status/.")
    var channel: String

    @Option(help: "An attribute payload's field name (with --value).")
    var field: String?

    @Option(help: "An attribute payload's value.")
    var value: String?

    @Option(help: "A whole <payload xmlns='…'>…</payload> element, sent as it is.")
    var payload: String?

    @Option(help: "Only this service receives the event.")
    var toService: String?

    @Option(help: "Only this instance of --to-service receives it.")
    var toInstance: String?

    func validate() throws {
        guard (payload == nil) != (field == nil) else { throw ValidationError("give either --field (with --value) or --payload") }
    }

    func event() throws -> Event {
        let channelName = try ChannelName(channel)
        if let payload {
            let element = try XMLElement.parse(Array(payload.utf8))
            guard element.localName == "payload" else { throw ValidationError("--payload must be a <payload> element") }
            return Event(
                channel: channelName, toService: toService, toInstance: toInstance,
                payloadNamespace: element.attributes["xmlns"], payload: Array(payload.utf8)
            )
        }
        return Event(channel: channelName, attribute: AttributePayload(field: field ?? "", value: value ?? ""), toService: toService, toInstance: toInstance)
    }
}
