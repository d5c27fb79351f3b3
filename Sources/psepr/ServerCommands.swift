import ArgumentParser
import Foundation
import Logging
import PsEPRCore
import PsEPRServer
import ServiceLifecycle
import UnixSignals

/// `psepr server`: a PsEPR server in the foreground, configured by `PsEPRServer.xml`.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run a PsEPR server in the foreground until SIGINT or SIGTERM.",
        discussion: """
            Reads PsEPRServer.xml from /usr/local/psepr/etc/psepr/, ~/.psepr/ and the working directory \
            (each overriding the ones before), then each --config file. Logs go to /PsEPRServer/debug/directory \
            and, in a terminal, to standard error.
            """
    )

    @Option(name: .customLong("config"), help: "A PsEPRServer.xml read after the search path (repeatable; later wins).")
    var configurationFiles: [String] = []

    @Flag(help: "Print every parameter's value in effect (defaults included) and exit.")
    var printParameters = false

    @Flag(help: "Refuse configuration files with unknown parameters or a root element other than <PsEPRServer>, instead of warning.")
    var strict = false

    func run() async throws {
        let settings = try ServerSettings.load(configurationFiles: configurationFiles, strict: strict)
        for warning in settings.warnings { FileHandle.standardError.write(Data("psepr: warning: \(warning)\n".utf8)) }
        if printParameters {
            for (name, value) in settings.effectiveParameters.all { print("\(name) = \(value)") }
            return
        }
        let (logger, logControl) = makeServerLogger(settings)
        for warning in settings.warnings { logger.log(.badError, .warning, "Configuration: \(warning)") }
        logger.log(.services, .notice, "PsEPR server starting", metadata: [
            "psepr.name": "\(settings.server.serverName)",
            "psepr.configuration": "\(settings.sources.isEmpty ? "built-in defaults" : settings.sources.joined(separator: ", "))",
        ])
        let server = EventServer(configuration: settings.server, logger: logger, logControl: logControl)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // SIGHUP reads the peer list again at once.
            tasks.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    logger.log(.peer, .notice, "SIGHUP: reading the peer list again")
                    server.reloadPeerConfiguration()
                }
            }
            try await group.run()
            tasks.cancelAll()
        }
        logger.log(.services, .notice, "PsEPR server stopped")
    }

    /// Logs by category to the rotating files, and to standard error in a terminal (or when the
    /// files cannot be opened).
    private func makeServerLogger(_ settings: ServerSettings) -> (Logger, LogControl) {
        var file: RotatingLogFile?
        do {
            file = try RotatingLogFile(directory: settings.logDirectory, maximumFiles: settings.logMaximumFiles, maximumFileBytes: settings.logMaximumFileBytes)
        } catch {
            FileHandle.standardError.write(Data("psepr: cannot log to \(settings.logDirectory) (\(error)); logging to standard error only. Set \(ServerSettings.Key.logDirectory).\n".utf8))
        }
        let echo = isatty(STDERR_FILENO) != 0 || file == nil
        let control = LogControl(filter: settings.logFilter, file: file)
        let logger = Logger(label: "psepr.server") { label in
            CategoryLogHandler(label: label, control: control, echoToStandardError: echo)
        }
        return (logger, control)
    }
}

/// `psepr accounts add`: adds or replaces an account in a password file.
struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts", abstract: "Manage a server's account file.", subcommands: [AddAccount.self]
    )

    struct AddAccount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add or replace a service's password (stored through scrypt) in an account file."
        )

        @Argument(help: "The account file; created if missing.")
        var file: String

        @Argument(help: "The service name.")
        var service: String

        @Option(help: "The password (default: $PSEPR_PASSWORD, else read from standard input).")
        var password: String?

        func run() async throws {
            guard let password = password ?? ProcessInfo.processInfo.environment["PSEPR_PASSWORD"] ?? readLine(strippingNewline: true), !password.isEmpty else {
                throw ValidationError("no password given")
            }
            guard !service.contains(where: { $0 == " " || $0 == "\t" || $0 == "#" }) else { throw ValidationError("a service name has no spaces or #") }
            let existing = FileManager.default.fileExists(atPath: file) ? try AccountTable(contentsOfFile: file) : AccountTable()
            var table = AccountTable()
            table.set(service: service, password: password)
            var lines = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                .filter { line in line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map { $0.lowercased() != service.lowercased() } ?? true }
                .filter { !$0.isEmpty }
            if existing.count == 0 && lines.isEmpty { lines.append("# PsEPR accounts: service $scrypt$ln=N,r=R,p=P$salt$key (older lines: service salt-hex sha256-hex)") }
            lines.append(table.line(for: service)!)
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            // The file holds password digests: its owner's only.
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            print("\(service) written to \(file)")
        }
    }
}
