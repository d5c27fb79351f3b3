import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where configuration comes from: a file path, a `file:` URL or an http(s) URL. `LeasePeer.xml`
/// is read so, and clients read `jClient.xml` server lists the same way.
public enum ConfigurationSource {
    /// The most read from one source, 4 MB.
    public static let maximumBytes = 4 << 20

    /// The bytes at `source`.
    ///
    /// - Throws: ``SettingsError`` naming the source when it cannot be read, answers other than
    ///   200 or is larger than ``maximumBytes``.
    public static func bytes(at source: String) async throws -> [UInt8] {
        let limit = maximumBytes
        if source.lowercased().hasPrefix("http://") || source.lowercased().hasPrefix("https://") {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: source), timeout: .seconds(30))
            guard response.status == .ok else { throw SettingsError(message: "\(source) answered \(response.status)") }
            return Array(buffer: try await response.body.collect(upTo: limit))
        }
        let path =
            source.lowercased().hasPrefix("file:") ? (URL(string: source)?.path ?? String(source.dropFirst(5))) : source
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsError(message: "cannot read \(path)")
        }
        guard data.count <= limit else { throw SettingsError(message: "\(path) is larger than \(limit) bytes") }
        return Array(data)
    }
}
