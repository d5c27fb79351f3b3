import DP5Client
import DP5Core
import Foundation
import Testing

/// Read-only access to `Resources/dp5_vectors.json`, the published DP5 test vectors.
struct Vector: Sendable {
    private let value: JSONValue

    static let root: Vector = {
        let url = Bundle.module.url(forResource: "dp5_vectors", withExtension: "json", subdirectory: "Resources")!
        return Vector(value: try! JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url)))
    }()

    static func file(_ name: String) -> [UInt8] {
        let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources")!
        return [UInt8](try! Data(contentsOf: url))
    }

    subscript(key: String) -> Vector {
        guard case .object(let object) = value, let child = object[key] else {
            Issue.record("vector has no key \(key)")
            return Vector(value: .null)
        }
        return Vector(value: child)
    }

    subscript(index: Int) -> Vector {
        guard case .array(let array) = value, array.indices.contains(index) else {
            Issue.record("vector has no element \(index)")
            return Vector(value: .null)
        }
        return Vector(value: array[index])
    }

    var array: [Vector] {
        guard case .array(let array) = value else { return [] }
        return array.map { Vector(value: $0) }
    }

    var keys: [String] {
        guard case .object(let object) = value else { return [] }
        return object.keys.sorted()
    }

    var string: String {
        guard case .string(let string) = value else {
            Issue.record("vector is not a string")
            return ""
        }
        return string
    }

    var bytes: [UInt8] { [UInt8](hexString: string)! }

    var int: Int {
        switch value {
        case .number(let number): return Int(number)
        case .string(let string): return Int(string)!
        default:
            Issue.record("vector is not a number")
            return 0
        }
    }

    var uint64: UInt64 {
        switch value {
        case .number(let number): return UInt64(number)
        case .string(let string): return UInt64(string)!
        default: return 0
        }
    }

    var bool: Bool {
        guard case .bool(let bool) = value else { return false }
        return bool
    }

    var isNull: Bool {
        if case .null = value { return true }
        return false
    }
}

/// A generator that replays fixed bytes, 8 per word, least significant first: exactly how
/// DP5Core consumes a generator's output. A word wholly past the end is zero and recorded as an overrun.
struct ScriptedRandomNumberGenerator: RandomNumberGenerator {
    private let bytes: [UInt8]
    private(set) var position = 0
    private(set) var overran = false

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func next() -> UInt64 {
        if position >= bytes.count { overran = true }
        var word: UInt64 = 0
        for index in 0..<8 where position + index < bytes.count {
            word |= UInt64(bytes[position + index]) << UInt64(8 * index)
        }
        position += 8
        return word
    }

    /// Whether all scripted bytes were used and no whole word beyond them.
    var consumedExactly: Bool { !overran && position >= bytes.count }
}

extension DHPrivateKey {
    /// One of the vector users: alice, bob, carol or dave.
    static func vectorUser(_ name: String) -> DHPrivateKey {
        try! DHPrivateKey(rawRepresentation: Vector.root["x25519"]["keys"][name]["priv_clamped"].bytes)
    }
}

extension Array where Element == UInt8 {
    var sha256Hex: String { SHA256Digest.hex(of: self) }
}
