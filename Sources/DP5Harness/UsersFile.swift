import DP5Core
import Foundation

/// The harness's users file (`dp5 users N FILE`): JSON, each user's private key in hex and its
/// buddies as indices into the same list.
///
/// ```json
/// {"users": [{"privateKey": "70076d0a…", "buddies": [3, 17, 42]}, …]}
/// ```
///
/// The file holds private keys: it is written readable by its owner only.
public enum UsersFile {
    private struct Contents: Codable {
        struct User: Codable {
            let privateKey: String
            let buddies: [Int]
        }
        let users: [User]
    }

    /// Writes `users`; every buddy must itself be one of `users`.
    public static func write(_ users: [SimulatedUser], to path: String) throws {
        let index = Dictionary(users.enumerated().map { ($1.privateKey.publicKey, $0) }, uniquingKeysWith: { first, _ in first })
        let contents = Contents(users: try users.map { user in
            Contents.User(
                privateKey: user.privateKey.rawRepresentation.hexString,
                buddies: try user.buddies.map {
                    guard let position = index[$0] else { throw UsersFileError(path: path, "a buddy is not one of the users") }
                    return position
                }
            )
        })
        let data = try JSONEncoder().encode(contents)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw UsersFileError(path: path, "cannot write the file")
        }
    }

    /// Reads a users file.
    public static func read(from path: String) throws -> [SimulatedUser] {
        guard let data = FileManager.default.contents(atPath: path) else { throw UsersFileError(path: path, "cannot read the file") }
        let contents: Contents
        do {
            contents = try JSONDecoder().decode(Contents.self, from: data)
        } catch {
            throw UsersFileError(path: path, "not a users file: \(error)")
        }
        let keys = try contents.users.enumerated().map { position, user in
            guard let bytes = [UInt8](hexString: user.privateKey), let key = try? DHPrivateKey(rawRepresentation: bytes) else {
                throw UsersFileError(path: path, "user \(position) has no valid private key")
            }
            return key
        }
        return try zip(keys, contents.users).map { key, user in
            SimulatedUser(privateKey: key, buddies: try user.buddies.map {
                guard keys.indices.contains($0) else { throw UsersFileError(path: path, "buddy index \($0) is out of range") }
                return keys[$0].publicKey
            })
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
