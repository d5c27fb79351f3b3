import ArgumentParser
import Foundation
import PsEPRClient
import PsEPRCore
import PsEPRServer
import ServerOperations

/// The `psepr` command: the PsEPR event router and its clients.
@main
struct PsEPRCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "psepr",
        abstract: "PsEPR, a publish/subscribe event router.",
        version: BuildInfo.versionLine(command: "psepr"),
        subcommands: [
            DemoCommand.self, ServerCommand.self, PublishCommand.self, WatchCommand.self, SendOneCommand.self,
            AccountsCommand.self,
            BenchCommand.self, PeersCommand.self, MeshDemoCommand.self,
        ]
    )
}

/// How a client command finds a server, who it logs in as, and how it speaks TLS.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "A server as host[:port] (repeatable; one is chosen at random).")
    var servers: [String] = []

    @Option(
        help: ArgumentHelp(
            "A server list: a path, file: or http(s) URL of a jClient.xml-style file (every element holding <server> and <port>) or a Discovery payload.",
            discussion:
                "Without --server or --servers-file: the last of /usr/local/psepr/etc/psepr/jClient.xml, ~/.psepr/jClient.xml and ./jClient.xml that exists, else localhost."
        )
    )
    var serversFile: String?

    @Option(help: "The service to log in as.")
    var service: String = "psepr_cli"

    @Option(help: "The service's password (default: $PSEPR_PASSWORD, else empty).")
    var password: String?

    @Option(help: "The instance (XMPP resource) to run as. Default: this host's name.")
    var instance: String?

    @Option(help: "STARTTLS: when-offered, required or disabled.")
    var tls: String = ClientTLSOptions.Mode.whenOffered.rawValue

    @Option(help: "A PEM certificate to trust besides the system's roots (a server's self-signed one).")
    var trustCertificate: String?

    @Option(help: "Give up, exiting non-zero, after this many seconds without reaching a server.")
    var giveUpAfter: Double = 30

    func validate() throws {
        guard ClientTLSOptions.Mode(rawValue: tls) != nil else {
            throw ValidationError(
                "--tls is one of \(ClientTLSOptions.Mode.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard giveUpAfter > 0, giveUpAfter <= 31_536_000 else {
            throw ValidationError("--give-up-after is a positive number of seconds, at most a year")
        }
    }

    var identity: ServiceIdentity {
        ServiceIdentity(
            service: service,
            password: password ?? ProcessInfo.processInfo.environment["PSEPR_PASSWORD"] ?? "",
            instance: instance ?? ProcessInfo.processInfo.hostName
        )
    }

    /// The library's options for these flags.
    var clientOptions: EventClient.Options {
        var options = EventClient.Options()
        options.tls = ClientTLSOptions(
            mode: ClientTLSOptions.Mode(rawValue: tls) ?? .whenOffered,
            trustCertificatePath: trustCertificate
        )
        options.giveUpAfter = .milliseconds(Int64(max(0.1, giveUpAfter) * 1000))
        // A person is waiting: don't sit out long pauses between attempts.
        options.maximumBackoff = .seconds(5)
        options.connectTimeout = .seconds(max(1, min(30, Int64(giveUpAfter))))
        return options
    }

    /// The client's search path for `jClient.xml`, as the original's (later files override earlier ones).
    static func searchPath(
        home: String? = ProcessInfo.processInfo.environment["HOME"],
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) -> [String] {
        var paths = ["/usr/local/psepr/etc/psepr/jClient.xml"]
        if let home { paths.append((home as NSString).appendingPathComponent(".psepr/jClient.xml")) }
        paths.append((workingDirectory as NSString).appendingPathComponent("jClient.xml"))
        return paths
    }

    /// The servers from `--server` and `--servers-file`, else from the search path, else
    /// localhost on `defaultPort`.
    ///
    /// - Parameter connectionType: the Discovery connection type to take from a Discovery payload.
    func serverList(
        defaultPort: Int = ServerAddress.defaultClientPort,
        connectionType: String = "XMPP"
    ) async throws -> [ServerAddress] {
        var list = try servers.map { try ServerAddress(parsing: $0, defaultPort: defaultPort) }
        if let serversFile {
            list += try ServerAddress.list(
                fromXML: try await ConfigurationSource.bytes(at: serversFile),
                connectionType: connectionType
            )
        }
        if list.isEmpty, let found = Self.searchPath().last(where: { FileManager.default.fileExists(atPath: $0) }) {
            do {
                list = try ServerAddress.list(
                    fromXML: try await ConfigurationSource.bytes(at: found),
                    connectionType: connectionType
                )
            } catch {
                throw ValidationError("\(found): \(error)")
            }
            FileHandle.standardError.write(Data("Servers from \(found)\n".utf8))
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
        guard (payload == nil) != (field == nil) else {
            throw ValidationError("give either --field (with --value) or --payload")
        }
    }

    func event() throws -> Event {
        let channelName = try ChannelName(channel)
        if let payload {
            let element = try ParsedElement.parse(Array(payload.utf8))
            guard element.localName == "payload" else { throw ValidationError("--payload must be a <payload> element") }
            return Event(
                channel: channelName,
                toService: toService,
                toInstance: toInstance,
                payloadNamespace: element.attributes["xmlns"],
                payload: Array(payload.utf8)
            )
        }
        return Event(
            channel: channelName,
            attribute: AttributePayload(field: field ?? "", value: value ?? ""),
            toService: toService,
            toInstance: toInstance
        )
    }
}
