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
            // Comments were blanked out, not removed, so the position is the file's own.
            if let problem = JSONSyntax.firstError(in: Array(data)) {
                throw ConfigurationError(
                    key: nil,
                    "not valid JSON at line \(problem.line), column \(problem.column): \(problem.message)"
                )
            }
            throw ConfigurationError(key: nil, "not valid JSON (\(Self.describe(error)))")
        }
        guard case .object(let object) = value else {
            throw ConfigurationError(key: nil, "the top level must be a JSON object")
        }
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
            throw ConfigurationError(
                key: fullKey(key),
                "must be between \(range.lowerBound) and \(range.upperBound), got \(integer)"
            )
        }
        return integer
    }

    /// A number (fractions allowed) within `range`, or `nil` if absent.
    public mutating func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = value(key) else { return nil }
        guard case .number(let number) = value else { throw ConfigurationError(key: fullKey(key), "must be a number") }
        guard range.contains(number) else {
            throw ConfigurationError(
                key: fullKey(key),
                "must be between \(range.lowerBound) and \(range.upperBound), got \(number)"
            )
        }
        return number
    }

    /// A list of strings, or `nil` if absent.
    public mutating func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let array) = value else {
            throw ConfigurationError(key: fullKey(key), "must be a list of strings")
        }
        return try array.map {
            guard case .string(let string) = $0 else {
                throw ConfigurationError(key: fullKey(key), "must be a list of strings")
            }
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
                while index < bytes.count,
                    !(bytes[index] == UInt8(ascii: "*") && index + 1 < bytes.count
                        && bytes[index + 1] == UInt8(ascii: "/"))
                {
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
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

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

/// Finds where JSON text first goes wrong, for a message with a line and a column (Foundation's
/// decoder says only that the text is not valid). A plain recursive-descent scan, nested at most
/// 512 deep.
enum JSONSyntax {
    struct Problem: Equatable {
        let line: Int
        let column: Int
        let message: String
    }

    private struct Failure: Error {
        let offset: Int
        let message: String
    }

    /// The first syntax error in `bytes`, or `nil` if they are valid JSON.
    static func firstError(in bytes: [UInt8]) -> Problem? {
        var index = 0
        do {
            try value(bytes, &index, depth: 0)
            skipSpace(bytes, &index)
            if index < bytes.count {
                throw Failure(offset: index, message: "unexpected text after the end of the JSON value")
            }
            return nil
        } catch let failure as Failure {
            let before = bytes[..<min(failure.offset, bytes.count)]
            let line = before.filter { $0 == UInt8(ascii: "\n") }.count + 1
            let column = failure.offset - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
            return Problem(line: line, column: column, message: failure.message)
        } catch {
            return nil
        }
    }

    private static func skipSpace(_ bytes: [UInt8], _ index: inout Int) {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private static func describe(_ bytes: [UInt8], _ index: Int) -> String {
        index < bytes.count ? "'\(String(decoding: [bytes[index]], as: UTF8.self))'" : "the end of the file"
    }

    private static func expect(_ byte: Character, _ bytes: [UInt8], _ index: inout Int, _ what: String) throws {
        skipSpace(bytes, &index)
        guard index < bytes.count, bytes[index] == byte.asciiValue! else {
            throw Failure(offset: index, message: "expected \(what), found \(describe(bytes, index))")
        }
        index += 1
    }

    private static func value(_ bytes: [UInt8], _ index: inout Int, depth: Int) throws {
        skipSpace(bytes, &index)
        guard depth < 512 else { throw Failure(offset: index, message: "nested too deeply") }
        guard index < bytes.count else {
            throw Failure(offset: index, message: "expected a value, found the end of the file")
        }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            skipSpace(bytes, &index)
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipSpace(bytes, &index)
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw Failure(offset: index, message: "expected a key in quotes, found \(describe(bytes, index))")
                }
                try string(bytes, &index)
                try expect(":", bytes, &index, "\":\" after the key")
                try value(bytes, &index, depth: depth + 1)
                skipSpace(bytes, &index)
                if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect("}", bytes, &index, "\",\" or \"}\"")
                return
            }
        case UInt8(ascii: "["):
            index += 1
            skipSpace(bytes, &index)
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                try value(bytes, &index, depth: depth + 1)
                skipSpace(bytes, &index)
                if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect("]", bytes, &index, "\",\" or \"]\"")
                return
            }
        case UInt8(ascii: "\""):
            try string(bytes, &index)
        default:
            let start = index
            let literal = bytes[index...].prefix { !" \t\r\n,]}:".utf8.contains($0) }
            index += literal.count
            let text = String(decoding: literal, as: UTF8.self)
            guard ["true", "false", "null"].contains(text) || Double(text) != nil, !text.isEmpty else {
                throw Failure(
                    offset: start,
                    message: "expected a value, found \(text.isEmpty ? describe(bytes, start) : "'\(text)'")"
                )
            }
        }
    }

    private static func string(_ bytes: [UInt8], _ index: inout Int) throws {
        let start = index
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"): index += 2
            case 0x0A: throw Failure(offset: index, message: "a string runs past the end of its line")
            default: index += 1
            }
        }
        throw Failure(offset: start, message: "a string is never closed")
    }
}
