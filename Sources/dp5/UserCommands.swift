import ArgumentParser
import DP5Client
import DP5Core
import Foundation

/// A user's key file: JSON with the private key and, for convenience, the public key, in hex.
///
/// ```json
/// {"privateKey": "70076d0a…", "publicKey": "8520f009…"}
/// ```
///
/// The private key is the clamped X25519 scalar, as the original stored it. The file is written
/// readable by its owner only; give your public key to your buddies.
enum KeyFile {
    private struct Contents: Codable {
        let privateKey: String
        let publicKey: String
    }

    static func write(_ key: DHPrivateKey, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) exists; not overwriting a key") }
        let data = try JSONEncoder().encode(Contents(privateKey: key.rawRepresentation.hexString, publicKey: key.publicKey.rawRepresentation.hexString))
        guard FileManager.default.createFile(atPath: path, contents: data + Data("\n".utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(path)")
        }
    }

    static func read(from path: String) throws -> DHPrivateKey {
        guard let data = FileManager.default.contents(atPath: path),
            let contents = try? JSONDecoder().decode(Contents.self, from: data),
            let bytes = [UInt8](hexString: contents.privateKey),
            let key = try? DHPrivateKey(rawRepresentation: bytes)
        else { throw ValidationError("\(path) is not a key file from `dp5 keygen`") }
        return key
    }
}

/// Reads a configuration file, reporting any problem with the file's name in front (and no
/// usage text: the command line was right, the file is not).
func loadConfiguration<Configuration>(_ path: String, _ read: (String) throws -> Configuration) throws -> Configuration {
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

/// `dp5 keygen FILE`.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keygen", abstract: "Make a user's key file and print the public key.")

    @Argument(help: "Key file to create (refuses to overwrite).")
    var file: String

    func run() throws {
        let key = DHPrivateKey.generate()
        try KeyFile.write(key, to: file)
        print(key.publicKey.rawRepresentation.hexString)
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

    @Argument(help: "Your buddies' public keys in hex (at most 100).")
    var buddies: [String] = []

    func run() async throws {
        let configuration = try loadConfiguration(config, ClientConfiguration.init(contentsOfFile:))
        let key = try KeyFile.read(from: keyFile)
        var message = Array(data.utf8)
        let size = configuration.protocolConfiguration.dataPlainSize
        guard message.count <= size else { throw ValidationError("--data is \(message.count) bytes; at most \(size) fit") }
        message += [UInt8](repeating: 0, count: size - message.count)
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

    @Argument(help: "Your buddies' public keys in hex (at most 100).")
    var buddies: [String]

    func run() async throws {
        let configuration = try loadConfiguration(config, ClientConfiguration.init(contentsOfFile:))
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
            FileHandle.standardError.write(Data("warning: lying or broken lookup servers (their answers were outvoted or refused): \(servers)\n".utf8))
        }
        if !result.isVerified && result.method != .none {
            FileHandle.standardError.write(Data(
                "warning: these answers could not be checked: no lookup server beyond the t + 1 needed confirmed them, so a lying server would go unnoticed\n".utf8
            ))
        }
    }
}
