import ArgumentParser
import CMallocTuning
import Foundation
import Logging
import NIOCore
import PsEPRCore
import PsEPRServer
import ServerOperations
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `psepr server`: a PsEPR server in the foreground, configured by `PsEPRServer.xml`.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run a PsEPR server in the foreground until SIGINT or SIGTERM.",
        discussion: """
            Reads PsEPRServer.xml from /usr/local/psepr/etc/psepr/, ~/.psepr/ and the working directory \
            (each overriding the ones before), then each --config file. Logs go to /PsEPRServer/debug/directory \
            and to standard error (unless /PsEPRServer/debug/standardError is no). SIGHUP reopens the log file \
            and reads the peer list again. Under systemd (Type=notify) readiness is reported once every \
            listener is bound. A configuration error exits with status 78 and its message alone.
            """
    )

    @Option(name: .customLong("config"), help: "A PsEPRServer.xml read after the search path (repeatable; later wins).")
    var configurationFiles: [String] = []

    @Flag(help: "Print every parameter's value in effect (defaults included) and exit.")
    var printParameters = false

    @Flag(
        help:
            "Refuse configuration files with unknown parameters or a root element other than <PsEPRServer>, instead of warning."
    )
    var strict = false

    /// The exit status of a configuration that cannot be used (sysexits' EX_CONFIG), which the
    /// systemd unit does not restart on.
    static let configurationErrorStatus: Int32 = 78

    /// Has the C allocator keep up to 16 MiB of freed memory per arena, and serve blocks below
    /// 4 MiB from its arenas, for the process's life. A router hands each read's outbound batch
    /// (a few hundred KiB) to the subscribers' queues and frees it once written; with glibc's
    /// defaults that memory went back to the system after every batch and came back as fresh
    /// pages, about 12,000 page faults per million events delivered (5 % of the server's time).
    /// What it keeps is bounded by those thresholds; peak memory is unchanged.
    static func keepFreedMemoryForReuse() {
        _ = cmalloctuning_keep_freed_memory(16 << 20, 4 << 20)
    }

    func run() async throws {
        let settings: ServerSettings
        do {
            settings = try ServerSettings.load(configurationFiles: configurationFiles, strict: strict)
        } catch {
            FileHandle.standardError.write(Data("psepr: \(error)\n".utf8))
            throw ExitCode(Self.configurationErrorStatus)
        }
        if printParameters {
            // No logger yet: the warnings go straight to standard error.
            for warning in settings.warnings {
                FileHandle.standardError.write(Data("psepr: warning: \(warning)\n".utf8))
            }
            for (name, value) in settings.effectiveParameters.all { print("\(name) = \(value)") }
            return
        }
        let (logger, logControl) = makeServerLogger(settings)
        for warning in settings.warnings { logger.log(.badError, .warning, "Configuration: \(warning)") }
        logger.log(
            .services,
            .notice,
            "PsEPR server starting",
            metadata: [
                "psepr.name": "\(settings.server.serverName)", "psepr.version": "\(BuildInfo.version)",
                "psepr.configuration":
                    "\(settings.sources.isEmpty ? "built-in defaults" : settings.sources.joined(separator: ", "))",
            ]
        )
        Self.keepFreedMemoryForReuse()
        let notifier = ReadinessNotifier(environment: ProcessInfo.processInfo.environment)
        let bound = Mutex(BoundPorts())
        let configuration = settings.server
        let server = EventServer(
            configuration: configuration,
            logger: logger,
            logControl: logControl,
            onListening: { listener, address in
                let ready = bound.withLock { ports -> BoundPorts? in
                    let wasComplete = ports.isComplete(for: configuration)
                    ports.record(listener, port: address.port ?? 0)
                    return !wasComplete && ports.isComplete(for: configuration) ? ports : nil
                }
                guard let ready else { return }
                logger.log(
                    .services,
                    .notice,
                    "PsEPR server ready",
                    metadata: [
                        "psepr.clientPort": "\(ready.client ?? 0)",
                        "psepr.monitorPort": "\(ready.monitor.map(String.init) ?? "off")",
                    ]
                )
                notifier.ready(
                    status:
                        "serving on client port \(ready.client ?? 0), monitor port \(ready.monitor.map(String.init) ?? "off")"
                )
            }
        )
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        // Trapped before the server starts: a SIGHUP just after READY=1 must not end it.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // SIGHUP: reopen the log file (after logrotate moved it) and read the peer list again.
            tasks.addTask {
                for await _ in hangups {
                    notifier.reloading()
                    logControl.file?.reopen()
                    logger.log(.services, .notice, "SIGHUP: log file reopened, reading the peer list again")
                    server.reloadPeerConfiguration()
                    notifier.reloaded()
                }
            }
            try await group.run()
            tasks.cancelAll()
        }
        notifier.stopping()
        logger.log(.services, .notice, "PsEPR server stopped")
    }

    /// Logs by category to the rotating files, and to standard error unless turned off (always
    /// when the files cannot be opened).
    private func makeServerLogger(_ settings: ServerSettings) -> (Logger, LogControl) {
        var file: RotatingLogFile?
        do {
            file = try RotatingLogFile(
                directory: settings.logDirectory,
                maximumFiles: settings.logMaximumFiles,
                maximumFileBytes: settings.logMaximumFileBytes
            )
        } catch {
            FileHandle.standardError.write(
                Data(
                    "psepr: cannot log to \(settings.logDirectory) (\(error)); logging to standard error only. Set \(ServerSettings.Key.logDirectory).\n"
                        .utf8
                )
            )
        }
        let echo = settings.logOutput.standardError || file == nil
        let control = LogControl(filter: settings.logFilter, file: file)
        let output = settings.logOutput
        let logger = Logger(label: "psepr.server") { label in
            var handler = CategoryLogHandler(label: label, control: control, echoToStandardError: echo)
            handler.format = output.format
            handler.minimumLevel = output.minimumLevel
            return handler
        }
        return (logger, control)
    }
}

/// `psepr accounts add`: adds or replaces an account in a password file.
struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "Manage a server's account file.",
        subcommands: [AddAccount.self]
    )

    struct AddAccount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add or replace a service's password (stored through scrypt) in an account file."
        )

        @Argument(help: "The account file; created if missing.")
        var file: String

        @Argument(help: "The service name.")
        var service: String

        @Option(help: "The password (default: $PSEPR_PASSWORD, else read from standard input).")
        var password: String?

        func run() async throws {
            guard
                let password = password ?? ProcessInfo.processInfo.environment["PSEPR_PASSWORD"]
                    ?? readLine(strippingNewline: true), !password.isEmpty
            else {
                throw ValidationError("no password given")
            }
            guard !service.contains(where: { $0 == " " || $0 == "\t" || $0 == "#" }) else {
                throw ValidationError("a service name has no spaces or #")
            }
            let existing =
                FileManager.default.fileExists(atPath: file) ? try AccountTable(contentsOfFile: file) : AccountTable()
            var table = AccountTable()
            table.set(service: service, password: password)
            var lines = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(
                separator: "\n",
                omittingEmptySubsequences: false
            ).map(String.init)
                .filter { line in
                    line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map {
                        $0.lowercased() != service.lowercased()
                    } ?? true
                }
                .filter { !$0.isEmpty }
            if existing.count == 0 && lines.isEmpty {
                lines.append(
                    "# PsEPR accounts: service $scrypt$ln=N,r=R,p=P$salt$key (older lines: service salt-hex sha256-hex)"
                )
            }
            lines.append(table.line(for: service)!)
            try writeOwnerOnly(lines.joined(separator: "\n") + "\n", to: file)
            print("\(service) written to \(file)")
        }
    }
}

/// Writes `text` to `path` through a temporary file created readable by its owner only and
/// renamed into place: the file holds password digests, so at no moment may others read it.
func writeOwnerOnly(_ text: String, to path: String) throws {
    let temporary = path + ".tmp-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
        throw ValidationError("cannot create \(temporary): \(String(cString: strerror(errno)))")
    }
    let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    do {
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else {
            throw ValidationError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    } catch {
        unlink(temporary)
        throw error
    }
}
