public import ArgumentParser
public import Logging
import ServerOperations

/// The `dp5` command: DP5's servers, clients and tools.
@main
struct DP5Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dp5",
        abstract: "DP5, a private presence service.",
        version: BuildInfo.versionLine(command: "dp5"),
        subcommands: [
            DemoCommand.self, ServerCommand.self, TestCertCommand.self, UsersCommand.self, ClientCommand.self,
            KeygenCommand.self, RegisterCommand.self, LookupCommand.self,
        ]
    )
}

/// Logging options shared by the commands that run servers.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log line format on standard error: text, logfmt or json.")
    var logFormat: LogFormat = .text

    /// A logger writing to standard error at the chosen level and format.
    func makeLogger(label: String) -> Logger { Self.makeLogger(label: label, level: logLevel, format: logFormat) }

    /// A logger writing to standard error.
    static func makeLogger(label: String, level: Logger.Level, format: LogFormat = .text) -> Logger {
        Logger(label: label) { _ in StandardErrorLogHandler(format: format, level: level) }
    }
}

extension LogFormat: ExpressibleByArgument {}

extension Logger.Level: @retroactive ExpressibleByArgument {}
