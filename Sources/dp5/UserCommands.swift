import ArgumentParser
import DP5Client
import DP5Core
import Foundation

/// A user's key file: JSON with both key pairs in hex — the X25519 pair (standard mode) and the
/// BLS12-381 pair (combined mode); the public keys are there for convenience.
///
/// ```json
/// {"privateKey": "70076d0a…", "publicKey": "8520f009…", "blsPrivateKey": "263dbd79…", "blsPublicKey": "a1b2…"}
/// ```
///
/// The private key is the clamped X25519 scalar, as the original stored it; the BLS private key
/// a scalar mod r, 32 bytes big-endian. Files without the BLS pair (from before combined mode)
/// still work in standard mode. The file is written readable by its owner only; give your public
/// keys to your buddies.
enum KeyFile {
    private struct Contents: Codable {
        let privateKey: String
        let publicKey: String
        let blsPrivateKey: String?
        let blsPublicKey: String?
    }

    static func write(_ key: DHPrivateKey, bls: BLSPrivateKey, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("\(path) exists; not overwriting a key")
        }
        let data = try JSONEncoder().encode(
            Contents(
                privateKey: key.rawRepresentation.hexString,
                publicKey: key.publicKey.rawRepresentation.hexString,
                blsPrivateKey: bls.rawRepresentation.hexString,
                blsPublicKey: bls.publicKey.rawRepresentation.hexString
            )
        )
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: data + Data("\n".utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw ValidationError("cannot write \(path)")
        }
    }

    private static func contents(of path: String) throws -> Contents {
        guard let data = FileManager.default.contents(atPath: path),
            let contents = try? JSONDecoder().decode(Contents.self, from: data)
        else {
            throw ValidationError("\(path) is not a key file from `dp5 keygen`")
        }
        return contents
    }

    static func read(from path: String) throws -> DHPrivateKey {
        guard let bytes = [UInt8](hexString: try contents(of: path).privateKey),
            let key = try? DHPrivateKey(rawRepresentation: bytes)
        else {
            throw ValidationError("\(path) is not a key file from `dp5 keygen`")
        }
        return key
    }

    static func readBLS(from path: String) throws -> BLSPrivateKey {
        guard let hex = try contents(of: path).blsPrivateKey else {
            throw ValidationError(
                "\(path) has no BLS key (made before combined mode); make a new one with `dp5 keygen`"
            )
        }
        guard let bytes = [UInt8](hexString: hex), let key = try? BLSPrivateKey(rawRepresentation: bytes) else {
            throw ValidationError("\(path) holds no valid BLS private key")
        }
        return key
    }
}

/// Reads a configuration file, reporting any problem with the file's name in front (and no
/// usage text: the command line was right, the file is not).
func loadConfiguration<Configuration>(_ path: String, _ read: (String) throws -> Configuration) throws -> Configuration
{
    do {
        return try read(path)
    } catch {
        throw CommandError("\(path): \(error)")
    }
}

/// A DP5 error with the lookup servers it concerns spelt out as their addresses.
func describe(_ error: any Error, lookupServers: [String]) -> String {
    guard let error = error as? DP5Error, !error.servers.isEmpty else { return "\(error)" }
    let names = error.servers.map { lookupServers.indices.contains($0) ? lookupServers[$0] : "#\($0)" }
    return "\(error.code): \(error.reason) (lookup servers \(names.joined(separator: ", ")))"
}

/// Parses a buddy's public key given in hex on the command line.
func publicKey(fromHex text: String) throws -> DHPublicKey {
    guard let bytes = [UInt8](hexString: text), let key = try? DHPublicKey(rawRepresentation: bytes) else {
        throw ValidationError("\(text) is not a public key (64 hex digits)")
    }
    return key
}

/// Parses a buddy's BLS public key (combined mode) given in hex.
func blsPublicKey(fromHex text: String) throws -> BLSPublicKey {
    guard let bytes = [UInt8](hexString: text), let key = try? BLSPublicKey(rawRepresentation: bytes) else {
        throw ValidationError("\(text) is not a BLS public key (96 hex digits, a compressed G1 point)")
    }
    return key
}

/// `dp5 keygen FILE`.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a user's key file (X25519 and BLS12-381 key pairs) and print both public keys.",
        discussion:
            "The first line is the X25519 public key (standard mode), the second the BLS public key (combined mode)."
    )

    @Argument(help: "Key file to create (refuses to overwrite).")
    var file: String

    func run() throws {
        let key = DHPrivateKey.generate()
        let bls = BLSPrivateKey.generate()
        try KeyFile.write(key, bls: bls, to: file)
        print(key.publicKey.rawRepresentation.hexString)
        print(bls.publicKey.rawRepresentation.hexString)
    }
}

/// `dp5 register SERVERS.cfg KEYFILE --data TEXT BUDDY…`.
struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register as online for the next epoch, telling each buddy the same short message.",
        discussion: "The message is at most dataEncSize − 16 bytes (16 by default) and is padded with zero bytes."
    )

    @Argument(help: "Client configuration (servers.cfg).")
    var config: String

    @Argument(help: "Your key file from `dp5 keygen`.")
    var keyFile: String

    @Option(help: "The message your buddies see.")
    var data = ""

    @Argument(help: "Your buddies' public keys in hex (at most 100); none in combined mode.")
    var buddies: [String] = []

    func run() async throws {
        let configuration = try loadConfiguration(config, ClientConfiguration.init(contentsOfFile:))
        let key = try KeyFile.read(from: keyFile)
        var message = Array(data.utf8)
        let size = configuration.protocolConfiguration.dataPlainSize
        guard message.count <= size else {
            throw ValidationError("--data is \(message.count) bytes; at most \(size) fit")
        }
        message += [UInt8](repeating: 0, count: size - message.count)
        if configuration.protocolConfiguration.combined {
            // One record for every buddy who knows the BLS public key; no buddy list.
            guard buddies.isEmpty else {
                throw ValidationError(
                    "a combined-mode registration names no buddies: whoever knows your BLS public key sees it"
                )
            }
            let blsKey = try KeyFile.readBLS(from: keyFile)
            let epoch = try await DP5HTTPClient.withClient(configuration: configuration) { client in
                try await client.registerCombined(privateKey: blsKey, data: message)
            }
            print("Registered for combined epoch \(epoch)")
            return
        }
        let entries = try buddies.map { BuddyRegistration(publicKey: try publicKey(fromHex: $0), data: message) }
        let epoch = try await DP5HTTPClient.withClient(configuration: configuration) { client in
            try await client.register(privateKey: key, buddies: entries)
        }
        print("Registered for epoch \(epoch) with \(entries.count) buddies")
    }
}

/// `dp5 lookup SERVERS.cfg KEYFILE BUDDY…`.
struct LookupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Look up which buddies are online this epoch, and what they told you."
    )

    @Argument(help: "Client configuration (servers.cfg).")
    var config: String

    @Argument(help: "Your key file from `dp5 keygen`.")
    var keyFile: String

    @Argument(help: "Your buddies' public keys in hex (at most 100): X25519 keys, or BLS keys in combined mode.")
    var buddies: [String]

    func run() async throws {
        let configuration = try loadConfiguration(config, ClientConfiguration.init(contentsOfFile:))
        if configuration.protocolConfiguration.combined {
            try await lookUpCombined(configuration)
            return
        }
        let key = try KeyFile.read(from: keyFile)
        let keys = try buddies.map(publicKey(fromHex:))
        let result: LookupResult
        do {
            result = try await DP5HTTPClient.withClient(configuration: configuration) { client in
                try await client.lookup(privateKey: key, buddies: keys)
            }
        } catch {
            throw CommandError(describe(error, lookupServers: configuration.lookupServers))
        }
        for presence in result.presences {
            let name = presence.publicKey.rawRepresentation.hexString
            guard let data = presence.data else {
                print("\(name) offline")
                continue
            }
            var trimmed = data
            while trimmed.last == 0 { trimmed.removeLast() }
            let text = String(validating: trimmed, as: UTF8.self).map { "\"\($0)\"" } ?? trimmed.hexString
            print("\(name) online \(text)")
        }
        if !result.faultyServers.isEmpty {
            let servers = result.faultyServers.map { configuration.lookupServers[$0] }.joined(separator: ", ")
            FileHandle.standardError.write(
                Data(
                    "warning: lying or broken lookup servers (their answers were outvoted or refused): \(servers)\n"
                        .utf8
                )
            )
        }
        if !result.isVerified && result.method != .none {
            FileHandle.standardError.write(
                Data(
                    "warning: these answers could not be checked: no lookup server beyond the t + 1 needed confirmed them, so a lying server would go unnoticed\n"
                        .utf8
                )
            )
        }
    }
}

extension LookupCommand {
    /// Combined mode: buddies by BLS public key; no private key is needed.
    private func lookUpCombined(_ configuration: ClientConfiguration) async throws {
        let keys = try buddies.map(blsPublicKey(fromHex:))
        let result: CombinedLookupResult
        do {
            result = try await DP5HTTPClient.withClient(configuration: configuration) { client in
                try await client.lookupCombined(buddies: keys)
            }
        } catch {
            throw CommandError(describe(error, lookupServers: configuration.lookupServers))
        }
        for presence in result.presences {
            let name = presence.publicKey.rawRepresentation.hexString
            guard var data = presence.data else {
                print("\(name) offline")
                continue
            }
            while data.last == 0 { data.removeLast() }
            print("\(name) online " + (String(validating: data, as: UTF8.self).map { "\"\($0)\"" } ?? data.hexString))
        }
    }
}
