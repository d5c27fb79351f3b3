import ArgumentParser
import DP5Client
import DP5Server
import Foundation
import Logging
import ServerOperations
import ServiceLifecycle
import UnixSignals

/// `dp5 server CONFIG`: a registration server, a lookup server, or both.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run a registration and/or lookup server from a JSON config file (regserver.cfg, lookupserver.cfg).",
        discussion: """
            Runs in the foreground, logs to standard error, and stops cleanly on SIGINT or SIGTERM. SIGHUP is \
            logged and otherwise ignored (the logs go to standard error only). Under systemd (Type=notify) readiness \
            is reported once the HTTP listener is bound.
            """
    )

    @Argument(help: "The server's JSON configuration file.")
    var config: String

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let configuration = try loadConfiguration(config, ServerConfiguration.init(contentsOfFile:))
        let logger = logging.makeLogger(label: "dp5.server")
        let notifier = ReadinessNotifier(environment: ProcessInfo.processInfo.environment)
        let server = DP5Service(configuration: configuration, logger: logger) { address in
            notifier.ready(status: "serving on \(address)")
        }
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        // Trapped before the server starts: a SIGHUP just after READY=1 must not end it.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                // SIGHUP (systemctl reload, logrotate) must not end the server: there is no log file to reopen.
                tasks.addTask {
                    for await _ in hangups {
                        notifier.reloading()
                        logger.notice("SIGHUP: nothing to reload (logs go to standard error)")
                        notifier.reloaded()
                    }
                }
                try await group.run()
                tasks.cancelAll()
            }
        } catch {
            // A setting that only fails when used (a missing certificate, a shared datadir, a
            // port in use): the file's name in front, and no usage text.
            throw CommandError("\(config): \(error)")
        }
        notifier.stopping()
    }
}

/// `dp5 testcert DIR`: the self-signed certificate the seed has users make with openssl.
struct TestCertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testcert",
        abstract: "Write a self-signed server.crt and server.key into DIR, valid for localhost and 127.0.0.1."
    )

    @Argument(help: "Directory to write server.crt and server.key into (created if missing).")
    var directory: String

    @Option(
        name: .customLong("host"),
        help: "Another host name or IPv4 address the certificate is valid for (repeatable)."
    )
    var hosts: [String] = []

    func run() throws {
        let paths = try SelfSignedCertificate.write(to: directory, hosts: hosts)
        print("Wrote \(paths.certificatePath) and \(paths.privateKeyPath)")
        print(
            """

            Servers use it with these lines in the "server" section of regserver.cfg and each lookupserver.cfg:
                "server.ssl_certificate": "\(paths.certificatePath)",
                "server.ssl_private_key": "\(paths.privateKeyPath)"

            Lookup servers trust the registration server with this line in each lookupserver.cfg:
                "trustCertificate": "\(paths.certificatePath)",

            Clients trust the servers with this line in servers.cfg:
                "trustCertificate": "\(paths.certificatePath)",

            `dp5 client` fast-forwards the registration server, which needs this line in regserver.cfg:
                "allowDebugFastForward": true,
            """
        )
    }
}
