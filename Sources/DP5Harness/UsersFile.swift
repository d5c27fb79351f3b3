import DP5Core
import Foundation

/// The harness's users file (`dp5 users N FILE`): JSON, each user's X25519 private key and BLS
/// private key (combined mode) in hex and its buddies as indices into the same list.
///
/// ```json
/// {"users": [{"privateKey": "70076d0a…", "blsPrivateKey": "263dbd79…", "buddies": [3, 17, 42]}, …]}
/// ```
///
/// `blsPrivateKey` may be absent (files from before combined mode); such users cannot take
/// part in combined or two-level runs.
///
/// The file holds private keys: it is written readable by its owner only.
public enum UsersFile {
    private struct Contents: Codable {
        struct User: Codable {
            let privateKey: String
            let blsPrivateKey: String?
            let buddies: [Int]
        }
        let users: [User]
    }

    /// Writes `users`; every buddy must itself be one of `users`.
    public static func write(_ users: [SimulatedUser], to path: String) throws {
        let index = Dictionary(
            users.enumerated().map { ($1.privateKey.publicKey, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let contents = Contents(
            users: try users.map { user in
                Contents.User(
                    privateKey: user.privateKey.rawRepresentation.hexString,
                    blsPrivateKey: user.blsPrivateKey?.rawRepresentation.hexString,
                    buddies: try user.buddies.map {
                        guard let position = index[$0] else {
                            throw UsersFileError(path: path, "a buddy is not one of the users")
                        }
                        return position
                    }
                )
            }
        )
        let data = try JSONEncoder().encode(contents)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600])
        else {
            throw UsersFileError(path: path, "cannot write the file")
        }
    }

    /// Reads a users file.
    public static func read(from path: String) throws -> [SimulatedUser] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsersFileError(path: path, "cannot read the file")
        }
        let contents: Contents
        do {
            contents = try JSONDecoder().decode(Contents.self, from: data)
        } catch {
            throw UsersFileError(path: path, "not a users file: \(error)")
        }
        let keys = try contents.users.enumerated().map { position, user in
            guard let bytes = [UInt8](hexString: user.privateKey), let key = try? DHPrivateKey(rawRepresentation: bytes)
            else {
                throw UsersFileError(path: path, "user \(position) has no valid private key")
            }
            return key
        }
        let blsKeys = try contents.users.enumerated().map { position, user -> BLSPrivateKey? in
            guard let hex = user.blsPrivateKey else { return nil }
            guard let bytes = [UInt8](hexString: hex), let key = try? BLSPrivateKey(rawRepresentation: bytes) else {
                throw UsersFileError(path: path, "user \(position) has no valid BLS private key")
            }
            return key
        }
        return try zip(zip(keys, blsKeys), contents.users).map { keyPair, user in
            SimulatedUser(
                privateKey: keyPair.0,
                blsPrivateKey: keyPair.1,
                buddies: try user.buddies.map {
                    guard keys.indices.contains($0) else {
                        throw UsersFileError(path: path, "buddy index \($0) is out of range")
                    }
                    return keys[$0].publicKey
                }
            )
        }
    }
}

/// A users file that cannot be read or written.
public struct UsersFileError: Error, CustomStringConvertible {
    /// The file.
    public let path: String
    /// What is wrong.
    public let message: String

    init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
