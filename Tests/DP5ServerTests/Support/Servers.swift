import Logging

/// A logger that keeps every line, so a test can read what a server logged.
func collectingLogger(_ lines: LogLines, level: Logger.Level = .info) -> Logger {
    var logger = Logger(label: "dp5.test") { _ in CollectingLogHandler(lines: lines) }
    logger.logLevel = level
    return logger
}
