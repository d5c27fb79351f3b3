public import ArgumentParser
public import Logging

/// The `dp5` command: DP5's servers, clients and tools.
@main
struct DP5Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dp5",
        abstract: "DP5, a private presence service.",
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

    /// A logger writing to standard error at the chosen level.
    func makeLogger(label: String) -> Logger { Self.makeLogger(label: label, level: logLevel) }

    /// A logger writing to standard error.
    static func makeLogger(label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
