import Crypto
import CryptoExtras
public import Foundation
import PsEPRCore

/// The services allowed to log in, with their passwords stored through scrypt.
///
/// File format (one account a line; `#` starts a comment):
/// ```
/// service  $scrypt$ln=14,r=8,p=1$salt-base64$key-base64
/// service  salt-hex  sha256-hex(salt ‖ password)
/// ```
/// The first is the PHC string format of scrypt (`ln` is log₂ of the cost N), which
/// `psepr accounts add FILE SERVICE` writes; the second, salted SHA-256, is what earlier versions
/// wrote and is still read. Comparison takes the same time whatever the password, so timing does
/// not reveal how much of it was right. Tables sent on the accounting channel keep their own
/// codings (MD5, SHA256, plain).
///
/// Descriptions and dumps of a table show how many accounts it has, never salts or digests.
public struct AccountTable: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable
{
    struct Entry: Sendable, Hashable {
        let salt: [UInt8]
        let digest: [UInt8]
        var coding: Coding = .sha256
        /// After this the account no longer logs in; `nil`: never expires.
        var expires: Date?
        /// Any password (an account table's `ANY`).
        var acceptsAnyPassword = false
    }

    /// How a stored digest was made from salt and password.
    enum Coding: Sendable, Hashable {
        /// SHA-256 of salt ‖ password: earlier versions' account files, accounting tables' SHA256.
        case sha256
        /// The original's account tables: MD5 of salt ‖ password.
        case md5
        /// scrypt with cost 2^`logCost`, block size `blockSize` and parallelism `parallelism`.
        case scrypt(logCost: Int, blockSize: Int, parallelism: Int)
    }

    /// The cost of the scrypt lines written (N = 2^14, r = 8, p = 1: 16 MiB per check).
    public struct KeyDerivationCost: Sendable, Hashable {
        /// log₂ of scrypt's N.
        public var logCost: Int
        /// scrypt's r.
        public var blockSize: Int
        /// scrypt's p.
        public var parallelism: Int

        /// Custom parameters.
        public init(logCost: Int, blockSize: Int, parallelism: Int) {
            self.logCost = logCost
            self.blockSize = blockSize
            self.parallelism = parallelism
        }

        /// What `psepr accounts add` uses.
        public static let standard = KeyDerivationCost(logCost: 14, blockSize: 8, parallelism: 1)
        /// The cheapest scrypt, for tests that log in many times.
        public static let minimal = KeyDerivationCost(logCost: 1, blockSize: 1, parallelism: 1)

        var coding: Coding { .scrypt(logCost: logCost, blockSize: blockSize, parallelism: parallelism) }
    }

    private var entries: [String: Entry] = [:]
    /// The coding checked for an unknown service, so that its absence costs the same work: the
    /// dearest in the table.
    private var absentServiceCoding = Coding.sha256

    /// An empty table.
    public init() {}

    /// Reads a password file.
    ///
    /// - Throws: an error naming the line that is malformed.
    public init(contentsOfFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AccountFileError(message: "cannot read the account file \(path)")
        }
        for (number, line) in String(decoding: data, as: UTF8.self).split(
            separator: "\n",
            omittingEmptySubsequences: false
        ).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            let entry: Entry
            if fields.count == 2, fields[1].hasPrefix("$scrypt$") {
                guard let parsed = Self.scryptEntry(fields[1]) else {
                    throw AccountFileError(
                        message:
                            "\(path):\(number + 1): expected \"service $scrypt$ln=N,r=R,p=P$salt$key\" (base64 without padding)"
                    )
                }
                entry = parsed
            } else {
                guard fields.count == 3, let salt = Self.bytes(hex: fields[1]), let digest = Self.bytes(hex: fields[2]),
                    digest.count == 32
                else {
                    throw AccountFileError(
                        message:
                            "\(path):\(number + 1): expected \"service $scrypt$…\" or \"service salt-hex sha256-hex\""
                    )
                }
                entry = Entry(salt: salt, digest: digest)
            }
            add(String(fields[0]), entry)
        }
    }

    private mutating func add(_ service: String, _ entry: Entry) {
        entries[service.lowercased()] = entry
        if case .scrypt = entry.coding, Self.work(entry.coding) > Self.work(absentServiceCoding) {
            absentServiceCoding = entry.coding
        }
    }

    private static func work(_ coding: Coding) -> Int {
        if case .scrypt(let logCost, let blockSize, let parallelism) = coding {
            return (1 << logCost) * blockSize * parallelism
        }
        return 0
    }

    /// Adds or replaces an account with a fresh salt, its password stored through scrypt.
    public mutating func set(service: String, password: String, cost: KeyDerivationCost = .standard) {
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
        add(
            service,
            Entry(
                salt: salt,
                digest: Self.digest(salt: salt, password: password, coding: cost.coding),
                coding: cost.coding
            )
        )
    }

    /// The file line for `service`, if it exists.
    public func line(for service: String) -> String? {
        guard let entry = entries[service.lowercased()] else { return nil }
        switch entry.coding {
        case .scrypt(let logCost, let blockSize, let parallelism):
            return
                "\(service) $scrypt$ln=\(logCost),r=\(blockSize),p=\(parallelism)$\(Self.base64(entry.salt))$\(Self.base64(entry.digest))"
        case .sha256, .md5:
            return "\(service) \(Self.hex(entry.salt)) \(Self.hex(entry.digest))"
        }
    }

    /// Number of accounts.
    public var count: Int { entries.count }

    public var description: String { "AccountTable(\(count) account\(count == 1 ? "" : "s"))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["count": count]) }

    /// What a login attempt's check found.
    public enum LoginCheck: Sendable, Hashable, CustomStringConvertible {
        /// The password is right (or the account takes any) and the account has not expired.
        case accepted
        /// No account has this service name.
        case unknownAccount
        /// The account exists; the password is not its own.
        case wrongPassword
        /// The account's expiration time has passed.
        case expired

        /// The reason in plain words, for the server's log (never for the client, which learns
        /// only that the login was refused).
        public var description: String {
            switch self {
            case .accepted: "accepted"
            case .unknownAccount: "unknown account"
            case .wrongPassword: "wrong password"
            case .expired: "account expired"
            }
        }
    }

    /// Whether `password` is `service`'s. Service names ignore case, as the original's did.
    public func verify(service: String, password: String, now: Date = Date()) -> Bool {
        check(service: service, password: password, now: now) == .accepted
    }

    /// Checks a login, saying why it is refused. The work is the same whatever the outcome, so
    /// the timing shows neither whether the account exists nor how much of the password was right.
    public func check(service: String, password: String, now: Date = Date()) -> LoginCheck {
        guard let entry = entries[service.lowercased()] else {
            let coding = absentServiceCoding
            _ = Self.constantTimeEqual(
                Self.digest(salt: [UInt8](repeating: 0, count: 16), password: password, coding: coding),
                [UInt8](repeating: 0, count: 32)
            )
            return .unknownAccount
        }
        let matches = Self.constantTimeEqual(
            Self.digest(salt: entry.salt, password: password, coding: entry.coding),
            entry.digest
        )
        if let expires = entry.expires, expires <= now { return .expired }
        return matches || entry.acceptsAnyPassword ? .accepted : .wrongPassword
    }

    static func digest(salt: [UInt8], password: String, coding: Coding = .sha256) -> [UInt8] {
        switch coding {
        case .sha256: Array(SHA256.hash(data: salt + Array(password.utf8)))
        case .md5: Array(Insecure.MD5.hash(data: salt + Array(password.utf8)))
        case .scrypt(let logCost, let blockSize, let parallelism):
            // Parameters were checked when the line was read; a derivation that still fails
            // matches nothing.
            (try? KDF.Scrypt.deriveKey(
                from: Array(password.utf8),
                salt: salt,
                outputByteCount: 32,
                rounds: 1 << logCost,
                blockSize: blockSize,
                parallelism: parallelism
            ).withUnsafeBytes { Array($0) }) ?? []
        }
    }

    /// A `$scrypt$ln=…,r=…,p=…$salt$key` string's entry, if well-formed and of sane cost.
    private static func scryptEntry(_ text: Substring) -> Entry? {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return nil }
        var values: [Substring: Int] = [:]
        for pair in parts[2].split(separator: ",") {
            let keyValue = pair.split(separator: "=", maxSplits: 1)
            guard keyValue.count == 2, let value = Int(keyValue[1]) else { return nil }
            values[keyValue[0]] = value
        }
        guard let logCost = values["ln"], let blockSize = values["r"], let parallelism = values["p"], values.count == 3,
            (1...20).contains(logCost), (1...32).contains(blockSize), (1...16).contains(parallelism),
            let salt = unbase64(parts[3]), !salt.isEmpty, let key = unbase64(parts[4]), key.count == 32
        else { return nil }
        return Entry(
            salt: salt,
            digest: key,
            coding: .scrypt(logCost: logCost, blockSize: blockSize, parallelism: parallelism)
        )
    }

    /// Base64 without padding, as PHC strings write it.
    private static func base64(_ bytes: [UInt8]) -> String {
        String(Data(bytes).base64EncodedString().prefix { $0 != "=" })
    }

    private static func unbase64(_ text: Substring) -> [UInt8]? {
        let padded = String(text) + String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: padded).map { Array($0) }
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
        let root = try ParsedElement.parse(payload, maximumDepth: 8)
        guard let accounts = root.localName == "passwordAccounts" ? root : root.child("passwordAccounts") else {
            return nil
        }
        let codingName = accounts.childText("passwordCoding")?.trimmingCharacters(in: .whitespaces).uppercased() ?? ""
        let seed = Array((accounts.childText("passwordSeed") ?? "").utf8)
        self.init()
        for account in accounts.children where account.localName == "account" {
            guard let name = account.childText("name")?.trimmingCharacters(in: .whitespaces), !name.isEmpty,
                let stored = account.child("password")?.text.trimmingCharacters(in: .whitespaces)
            else { throw AccountFileError(message: "an <account> without <name> or <password>") }
            var expires: Date?
            if let text = account.childText("expiration")?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
                guard let value = ParameterSet.decodeInteger(text) else {
                    throw AccountFileError(message: "account \(name): bad <expiration> \(text.prefix(20))")
                }
                if value > 0 {
                    expires = Date(
                        timeIntervalSince1970: value > 100_000_000_000 ? Double(value) / 1000 : Double(value)
                    )
                }
            }
            let entry: Entry
            if stored == "ANY" {
                entry = Entry(salt: [], digest: [], expires: expires, acceptsAnyPassword: true)
            } else {
                switch codingName {
                case "MD5", "SHA256":
                    guard let digest = Self.bytes(hex: Substring(stored.lowercased())),
                        digest.count == (codingName == "MD5" ? 16 : 32)
                    else {
                        throw AccountFileError(
                            message: "account \(name): the password is not a hex \(codingName) digest"
                        )
                    }
                    entry = Entry(
                        salt: seed,
                        digest: digest,
                        coding: codingName == "MD5" ? .md5 : .sha256,
                        expires: expires
                    )
                case "", "NONE", "PLAIN":
                    entry = Entry(salt: seed, digest: Self.digest(salt: seed, password: stored), expires: expires)
                default:
                    throw AccountFileError(message: "unknown passwordCoding \(codingName.prefix(20))")
                }
            }
            add(name, entry)
        }
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The bytes a hex string spells, or nil.
    static func bytes(hex: Substring) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < utf8.count {
            guard let byte = UInt8(String(decoding: utf8[index..<(index + 2)], as: UTF8.self), radix: 16) else {
                return nil
            }
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
