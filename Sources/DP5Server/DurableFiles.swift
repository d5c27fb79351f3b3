import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// File operations with the durability the servers promise: an acknowledged registration has
/// reached the disk, and a published database file is either absent or complete.
enum DurableFiles {
    /// Appends `bytes` to `path` (creating it) and waits until they are on disk.
    static func appendAndSync(_ bytes: [UInt8], to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        defer { close(descriptor) }
        try writeAll(bytes, to: descriptor, path: path)
        guard fsync(descriptor) == 0 else { throw FileError(path: path, operation: "fsync", code: errno) }
    }

    /// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it into place, so
    /// readers never see a partial file.
    static func writeAtomically(_ bytes: some ContiguousBytes, to path: String) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError(path: temporary, operation: "open", code: errno) }
        do {
            try bytes.withUnsafeBytes { try writeAll($0, to: descriptor, path: temporary) }
            guard fsync(descriptor) == 0 else { throw FileError(path: temporary, operation: "fsync", code: errno) }
            close(descriptor)
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw FileError(path: path, operation: "rename", code: code)
        }
        syncDirectory(of: path)
    }

    /// Renames `from` to `to`, if `from` exists.
    static func renameIfPresent(_ from: String, to: String) throws {
        guard FileManager.default.fileExists(atPath: from) else { return }
        guard rename(from, to) == 0 else { throw FileError(path: from, operation: "rename", code: errno) }
        syncDirectory(of: to)
    }

    /// Creates `path` and its parents if missing.
    static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FileError(path: path, operation: "create directory", code: EACCES)
        }
    }

    private static func writeAll(_ bytes: some ContiguousBytes, to descriptor: Int32, path: String) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path: path, operation: "write", code: errno)
                }
                offset += written
            }
        }
    }

    /// Makes a rename durable; failure only weakens durability, so it is not an error.
    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}

/// A file operation that failed, with the system's reason (a full disk shows as "No space left on device").
struct FileError: Error, CustomStringConvertible {
    let path: String
    let operation: String
    let code: Int32

    var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}
