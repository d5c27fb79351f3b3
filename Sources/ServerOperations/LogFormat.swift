public import Foundation
public import Logging

/// How log lines are written, to files and standard error alike.
///
/// Every entry has a swift-log level; a PsEPR entry also has a debug category (`LEASE`, `IO`, …).
/// - `text`: `2026-11-22T10:00:00Z LEASE info: Lease granted key=value …` (the original's style)
/// - `logfmt`: `time=… level=info category=LEASE msg="Lease granted" key=value …`
/// - `json`: one object a line, `{"time":"…","level":"info","category":"LEASE","msg":"…","key":"value"}`
public enum LogFormat: String, Sendable, CaseIterable {
    case text, logfmt, json

    /// The format named `name` (case-insensitive), if any.
    public init?(name: String) { self.init(rawValue: name.lowercased()) }

    /// One line, newline included. Metadata keys are sorted, so lines are stable for tools.
    public func line(
        time: Date,
        level: Logger.Level,
        category: String?,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        let fields = metadata.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        let timestamp = time.formatted(.iso8601)
        switch self {
        case .text:
            let rendered = fields.map { " \($0.0)=\(Self.textValue($0.1))" }.joined()
            return "\(timestamp) \(category.map { "\($0) " } ?? "")\(level): \(Self.textValue(message))\(rendered)\n"
        case .logfmt:
            var pairs = [("time", timestamp), ("level", "\(level)")]
            if let category { pairs.append(("category", category)) }
            pairs.append(("msg", message))
            pairs += fields
            return pairs.map { "\(Self.logfmtKey($0.0))=\(Self.logfmtValue($0.1))" }.joined(separator: " ") + "\n"
        case .json:
            var pairs = [("time", timestamp), ("level", "\(level)")]
            if let category { pairs.append(("category", category)) }
            pairs.append(("msg", message))
            pairs += fields.filter { !["time", "level", "category", "msg"].contains($0.0) }
            return "{" + pairs.map { "\(Self.jsonString($0.0)):\(Self.jsonString($0.1))" }.joined(separator: ",")
                + "}\n"
        }
    }

    /// A text-format value as it is, unless it holds a control character (a newline in a login
    /// name, say, would forge a line of its own): then quoted with every control character escaped.
    static func textValue(_ value: String) -> String {
        value.unicodeScalars.contains {
            $0.value < 0x20 || $0.value == 0x7F || $0.value == 0x2028 || $0.value == 0x2029
        } ? jsonString(value) : value
    }

    /// A logfmt key: anything but letters, digits and `._-/` becomes `_`.
    static func logfmtKey(_ key: String) -> String {
        String(key.map { $0.isLetter || $0.isNumber || "._-/".contains($0) ? $0 : "_" })
    }

    /// A logfmt value, quoted when it holds spaces, quotes, `=` or control characters.
    static func logfmtValue(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty
            || value.contains {
                $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.isNewline
                    || ($0.asciiValue.map { $0 < 0x20 } ?? false)
            }
        guard needsQuotes else { return value }
        return jsonString(value)
    }

    /// A JSON string literal, every control character escaped.
    public static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _
            where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A log handler writing formatted lines to standard error (DP5's servers; systemd and Docker
/// capture standard error).
public struct StandardErrorLogHandler: LogHandler {
    /// The line format.
    public let format: LogFormat
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    /// Creates a handler writing entries at `level` and above.
    public init(format: LogFormat, level: Logger.Level) {
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let line = format.line(
            time: Date(),
            level: event.level,
            category: nil,
            message: "\(event.message)",
            metadata: fields
        )
        FileHandle.standardError.write(Data(line.utf8))
    }
}
