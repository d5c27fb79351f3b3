public import Logging
import PsEPRCore
public import ServerOperations

/// The monitoring port's settings [`/PsEPRServer/monitor/…`].
public struct MonitorSettings: Sendable, Hashable {
    /// The port, or nil for no monitoring port. `psepr server` listens on 8223 unless
    /// [`/PsEPRServer/monitor/port`] says `off`; a configuration built in code has none.
    public var port: Int?
    /// The address it binds [`/PsEPRServer/monitor/bindAddress`]: loopback unless an operator
    /// opens it up, since the status lists accounts and remote addresses.
    public var host = "127.0.0.1"
    /// How often the status page reloads itself [`/PsEPRServer/monitor/refreshSeconds`].
    public var refreshSeconds = 5

    /// The default port of `psepr server`'s monitoring listener.
    public static let defaultPort = 8223

    public init(port: Int? = nil, host: String = "127.0.0.1") {
        self.port = port
        self.host = host
    }

    /// The settings from `parameters`, with `psepr server`'s defaults.
    init(parameters p: ParameterSet) throws {
        let text = p.string(Key.port, default: "\(Self.defaultPort)")
        if ["off", "no", "false", "none"].contains(text.lowercased()) {
            port = nil
        } else {
            let value = try p.integer(Key.port, default: Self.defaultPort)
            guard (0...65535).contains(value) else {
                throw ParameterError(name: Key.port, value: text, expected: "a port number, 0 for a free one, or off")
            }
            port = value
        }
        host = p.string(Key.bindAddress, default: host)
        refreshSeconds = try p.integer(Key.refreshSeconds, default: refreshSeconds)
        guard refreshSeconds > 0 else {
            throw ParameterError(name: Key.refreshSeconds, value: "\(refreshSeconds)", expected: "a positive integer")
        }
    }

    /// The values in effect, for `--print-parameters`.
    var values: [(String, String)] {
        [
            (Key.port, port.map(String.init) ?? "off"), (Key.bindAddress, host),
            (Key.refreshSeconds, "\(refreshSeconds)"),
        ]
    }

    /// The parameter names.
    public enum Key {
        public static let port = "/PsEPRServer/monitor/port"
        public static let bindAddress = "/PsEPRServer/monitor/bindAddress"
        public static let refreshSeconds = "/PsEPRServer/monitor/refreshSeconds"
    }
}

/// Where and how the server's log goes besides the rotating files [`/PsEPRServer/debug/…`].
public struct LogOutputSettings: Sendable, Hashable {
    /// Whether entries also go to standard error, terminal or not, as systemd and Docker expect
    /// [`/PsEPRServer/debug/standardError`], yes.
    public var standardError = true
    /// The line format of files and standard error [`/PsEPRServer/debug/format`], text.
    public var format = LogFormat.text
    /// The lowest level written [`/PsEPRServer/debug/level`], trace: by default the category
    /// filter alone decides. (BADERROR entries, warnings and worse, pass any category filter.)
    public var minimumLevel = Logger.Level.trace

    public init() {}

    init(parameters p: ParameterSet) throws {
        standardError = try p.boolean(Key.standardError, default: standardError)
        let formatName = p.string(Key.format, default: format.rawValue)
        guard let format = LogFormat(name: formatName) else {
            throw ParameterError(name: Key.format, value: formatName, expected: "text, logfmt or json")
        }
        self.format = format
        let levelName = p.string(Key.level, default: "\(minimumLevel)")
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw ParameterError(
                name: Key.level,
                value: levelName,
                expected: "trace, debug, info, notice, warning, error or critical"
            )
        }
        minimumLevel = level
    }

    var values: [(String, String)] {
        [
            (Key.standardError, standardError ? "yes" : "no"), (Key.format, format.rawValue),
            (Key.level, "\(minimumLevel)"),
        ]
    }

    /// The parameter names.
    public enum Key {
        public static let standardError = "/PsEPRServer/debug/standardError"
        public static let format = "/PsEPRServer/debug/format"
        public static let level = "/PsEPRServer/debug/level"
    }
}
