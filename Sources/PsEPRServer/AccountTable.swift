import Crypto
public import Foundation
import PsEPRCore

/// The services allowed to log in, with their passwords stored as salted SHA-256 digests.
///
/// File format (one account a line; `#` starts a comment):
/// ```
/// service  salt-hex  sha256-hex(salt ‖ password)
/// ```
/// `psepr accounts add FILE SERVICE` writes such lines. Comparison takes the same time whatever
/// the password, so timing does not reveal how much of it was right.
public struct AccountTable: Sendable, Hashable {
    struct Entry: Sendable, Hashable {
        let salt: [UInt8]
        let digest: [UInt8]
        var coding: Coding = .sha256
        /// After this the account no longer logs in; `nil`: never expires.
        var expires: Date?
        /// Any password (an account table's `ANY`).
        var acceptsAnyPassword = false
    }

    /// How a stored digest was made from salt ‖ password.
    enum Coding: Sendable, Hashable {
        case sha256
        /// The original's account tables: MD5, compared as lowercase hex.
        case md5
    }

    private var entries: [String: Entry] = [:]

    /// An empty table.
    public init() {}

    /// Reads a password file.
    ///
    /// - Throws: an error naming the line that is malformed.
    public init(contentsOfFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AccountFileError(message: "cannot read the account file \(path)")
        }
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            guard fields.count == 3, let salt = Self.bytes(hex: fields[1]), let digest = Self.bytes(hex: fields[2]), digest.count == 32 else {
                throw AccountFileError(message: "\(path):\(number + 1): expected \"service salt-hex sha256-hex\"")
            }
            entries[String(fields[0]).lowercased()] = Entry(salt: salt, digest: digest)
        }
    }

    /// Adds or replaces an account with a fresh salt.
    public mutating func set(service: String, password: String) {
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
        entries[service.lowercased()] = Entry(salt: salt, digest: Self.digest(salt: salt, password: password))
    }

    /// The file line for `service`, if it exists.
    public func line(for service: String) -> String? {
        entries[service.lowercased()].map { "\(service) \(Self.hex($0.salt)) \(Self.hex($0.digest))" }
    }

    /// Number of accounts.
    public var count: Int { entries.count }

    /// Whether `password` is `service`'s. Service names ignore case, as the original's did.
    public func verify(service: String, password: String, now: Date = Date()) -> Bool {
        guard let entry = entries[service.lowercased()] else {
            // Same work for an unknown service, so its absence does not show in the timing.
            _ = Self.constantTimeEqual(Self.digest(salt: [], password: password), [UInt8](repeating: 0, count: 32))
            return false
        }
        let matches = Self.constantTimeEqual(Self.digest(salt: entry.salt, password: password, coding: entry.coding), entry.digest)
        if let expires = entry.expires, expires <= now { return false }
        return matches || entry.acceptsAnyPassword
    }

    static func digest(salt: [UInt8], password: String, coding: Coding = .sha256) -> [UInt8] {
        switch coding {
        case .sha256: Array(SHA256.hash(data: salt + Array(password.utf8)))
        case .md5: Array(Insecure.MD5.hash(data: salt + Array(password.utf8)))
        }
    }

    /// Reads an account table sent on the accounting channel (spec §9.3):
    /// ```xml
    /// <payload xmlns='http://dsmt.org/schema/psepr/payload/PsEPRServer/accounting-1.0'>
    ///   <passwordAccounts>
    ///     <passwordCoding>MD5</passwordCoding>      <!-- MD5 (hex), SHA256 (hex) or none (plain text) -->
    ///     <passwordSeed>s33d</passwordSeed>         <!-- optional, put before the password -->
    ///     <account><name>stork</name><password>…coded password, or ANY…</password>
    ///              <expiration>0x7fffffff</expiration></account>
    ///   </passwordAccounts>
    /// </payload>
    /// ```
    /// `expiration` is seconds since 1970 (milliseconds when above 10¹¹); 0 or absent never
    /// expires. Returns `nil` when the payload carries no `<passwordAccounts>` (a ticket, say).
    ///
    /// - Throws: for malformed XML, an unknown coding or a malformed account.
    public init?(accountingPayload payload: some Collection<UInt8>) throws {
        let root = try XMLElement.parse(payload, maximumDepth: 8)
        guard let accounts = root.localName == "passwordAccounts" ? root : root.child("passwordAccounts") else { return nil }
        let codingName = accounts.childText("passwordCoding")?.trimmingCharacters(in: .whitespaces).uppercased() ?? ""
        let seed = Array((accounts.childText("passwordSeed") ?? "").utf8)
        self.init()
        for account in accounts.children where account.localName == "account" {
            guard let name = account.childText("name")?.trimmingCharacters(in: .whitespaces), !name.isEmpty,
                let stored = account.child("password")?.text.trimmingCharacters(in: .whitespaces)
            else { throw AccountFileError(message: "an <account> without <name> or <password>") }
            var expires: Date?
            if let text = account.childText("expiration")?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
                guard let value = ParameterSet.decodeInteger(text) else { throw AccountFileError(message: "account \(name): bad <expiration> \(text.prefix(20))") }
                if value > 0 { expires = Date(timeIntervalSince1970: value > 100_000_000_000 ? Double(value) / 1000 : Double(value)) }
            }
            let entry: Entry
            if stored == "ANY" {
                entry = Entry(salt: [], digest: [], expires: expires, acceptsAnyPassword: true)
            } else {
                switch codingName {
                case "MD5", "SHA256":
                    guard let digest = Self.bytes(hex: Substring(stored.lowercased())), digest.count == (codingName == "MD5" ? 16 : 32) else {
                        throw AccountFileError(message: "account \(name): the password is not a hex \(codingName) digest")
                    }
                    entry = Entry(salt: seed, digest: digest, coding: codingName == "MD5" ? .md5 : .sha256, expires: expires)
                case "", "NONE", "PLAIN":
                    entry = Entry(salt: seed, digest: Self.digest(salt: seed, password: stored), expires: expires)
                default:
                    throw AccountFileError(message: "unknown passwordCoding \(codingName.prefix(20))")
                }
            }
            entries[name.lowercased()] = entry
        }
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private static func bytes(hex: Substring) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < utf8.count {
            guard let byte = UInt8(String(decoding: utf8[index..<(index + 2)], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
            index += 2
        }
        return bytes
    }

    private static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// An account file that cannot be read.
public struct AccountFileError: Error, CustomStringConvertible {
    /// What is wrong, with the file and line.
    public let message: String
    public var description: String { message }
}
