import Foundation

/// An error in a configuration file, naming the key at fault.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The dotted path of the key at fault (`server.socket_port`), or `nil` for the file as a whole.
    public let key: String?
    /// What is wrong.
    public let message: String

    /// Creates an error.
    public init(key: String?, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { return "configuration key \"\(key)\": \(message)" }
        return "configuration: \(message)"
    }
}

/// Reads the original's JSON configuration files: plain JSON plus the `/* … */` and `// …`
/// comments the seed's samples carry. Every key must be known and of the right type.
public struct ConfigurationObject {
    private let values: [String: JSONValue]
    private let path: String
    private var read: Set<String> = []

    /// Parses a configuration file's text.
    public init(text: String) throws {
        let data = Data(Self.removingComments(from: text).utf8)
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ConfigurationError(key: nil, "not valid JSON (\(Self.describe(error)))")
        }
        guard case .object(let object) = value else { throw ConfigurationError(key: nil, "the top level must be a JSON object") }
        self.init(values: object, path: "")
    }

    /// Reads and parses a configuration file; relative paths are relative to the working directory.
    public init(contentsOfFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(key: nil, "cannot read \(path)")
        }
        try self.init(text: String(decoding: data, as: UTF8.self))
    }

    private init(values: [String: JSONValue], path: String) {
        self.values = values
        self.path = path
    }

    private func fullKey(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    private mutating func value(_ key: String) -> JSONValue? {
        read.insert(key)
        guard let value = values[key], value != .null else { return nil }
        return value
    }

    /// A string value, or `nil` if absent.
    public mutating func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let string) = value else { throw ConfigurationError(key: fullKey(key), "must be a string") }
        return string
    }

    /// A boolean value, or `nil` if absent.
    public mutating func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let bool) = value else { throw ConfigurationError(key: fullKey(key), "must be true or false") }
        return bool
    }

    /// An integer value within `range`, or `nil` if absent.
    public mutating func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard case .number(let number) = value, let integer = Int(exactly: number) else {
            throw ConfigurationError(key: fullKey(key), "must be a whole number")
        }
        guard range.contains(integer) else {
            throw ConfigurationError(key: fullKey(key), "must be between \(range.lowerBound) and \(range.upperBound), got \(integer)")
        }
        return integer
    }

    /// A list of strings, or `nil` if absent.
    public mutating func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let array) = value else { throw ConfigurationError(key: fullKey(key), "must be a list of strings") }
        return try array.map {
            guard case .string(let string) = $0 else { throw ConfigurationError(key: fullKey(key), "must be a list of strings") }
            return string
        }
    }

    /// A nested object, or `nil` if absent.
    public mutating func object(_ key: String) throws -> ConfigurationObject? {
        guard let value = value(key) else { return nil }
        guard case .object(let object) = value else { throw ConfigurationError(key: fullKey(key), "must be an object") }
        return ConfigurationObject(values: object, path: fullKey(key))
    }

    /// Throws for the first key that was never read: a misspelt or unsupported setting.
    public func rejectUnreadKeys() throws {
        if let unknown = values.keys.sorted().first(where: { !read.contains($0) }) {
            throw ConfigurationError(key: fullKey(unknown), "unknown setting")
        }
    }

    /// The text with `/* … */` and `// …` comments outside strings replaced by spaces.
    static func removingComments(from text: String) -> String {
        var output: [UInt8] = []
        let bytes = Array(text.utf8)
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0
            if inString {
                output.append(byte)
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    output.append(next)
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
            } else if byte == UInt8(ascii: "\"") {
                inString = true
                output.append(byte)
                index += 1
            } else if byte == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                index += 2
                while index < bytes.count, !(bytes[index] == UInt8(ascii: "*") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "/")) {
                    output.append(bytes[index] == UInt8(ascii: "\n") ? UInt8(ascii: "\n") : UInt8(ascii: " "))
                    index += 1
                }
                index += 2
            } else if byte == UInt8(ascii: "/"), next == UInt8(ascii: "/") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            } else {
                output.append(byte)
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        return String(describing: error)
    }
}

/// A parsed JSON value, keeping booleans and numbers apart (a configuration key that wants
/// `true` must not accept `1`).
public enum JSONValue: Decodable, Hashable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
