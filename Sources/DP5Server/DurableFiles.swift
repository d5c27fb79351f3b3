import DP5Client
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
    /// Appends whole records to `path` (creating it) and waits until they are on disk.
    ///
    /// A crash during an earlier append can leave a partial record at the end (it was never
    /// acknowledged); it is cut off first, so these records start on a record boundary instead of
    /// shifting every later record.
    static func appendRecordsAndSync(_ bytes: [UInt8], recordSize: Int, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        defer { close(descriptor) }
        let size = lseek(descriptor, 0, SEEK_END)
        guard size >= 0 else { throw FileError(path: path, operation: "seek", code: errno) }
        let partial = Int(size) % recordSize
        if partial != 0 {
            guard ftruncate(descriptor, off_t(Int(size) - partial)) == 0 else {
                throw FileError(path: path, operation: "truncate", code: errno)
            }
        }
        try writeAll(bytes, to: descriptor, path: path)
        guard fsync(descriptor) == 0 else { throw FileError(path: path, operation: "fsync", code: errno) }
    }

    /// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it into place, so
    /// readers never see a partial file. The temporary name is unique to this write, so two
    /// writers never share one.
    static func writeAtomically(_ bytes: some ContiguousBytes, to path: String) throws {
        let temporary = temporaryPath(for: path)
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

    /// A fresh temporary name beside `path`: `path.tmp-<pid>-<random>`.
    static func temporaryPath(for path: String) -> String {
        path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    /// Renames `from` to `to` and makes the rename durable.
    static func moveIntoPlace(_ from: String, to: String) throws {
        guard rename(from, to) == 0 else { throw FileError(path: from, operation: "rename", code: errno) }
        syncDirectory(of: to)
    }

    /// A new file written front to back in pieces, then synced: a download streamed to disk.
    final class StreamingFile {
        private var descriptor: Int32
        private let path: String

        /// Creates (or truncates) `path`, readable by everyone as published files are.
        init(creating path: String) throws {
            self.path = path
            descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        }

        func write(_ bytes: some Collection<UInt8>) throws {
            let copied = bytes.withContiguousStorageIfAvailable { Array(UnsafeRawBufferPointer($0)) } ?? Array(bytes)
            try DurableFiles.writeAll(copied, to: descriptor, path: path)
        }

        func syncAndClose() throws {
            guard fsync(descriptor) == 0 else { throw FileError(path: path, operation: "fsync", code: errno) }
            closeWithoutSync()
        }

        func closeWithoutSync() {
            if descriptor >= 0 { _ = close(descriptor) }
            descriptor = -1
        }

        deinit { closeWithoutSync() }
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

    static func writeAll(_ bytes: some ContiguousBytes, to descriptor: Int32, path: String) throws {
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

/// An exclusive `flock` on `<directory>/.dp5-lock`, held while a server runs, so a second
/// server (in this process or another) configured with the same directory is refused instead of
/// racing on its files. The kernel drops the lock when the process dies, even by SIGKILL.
final class DirectoryLock: Sendable {
    private let descriptor: Int32

    init(directory: String, key: String, configurationFile: String) throws {
        let path = directory + "/.dp5-lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ConfigurationError(
                key: key,
                "\(directory) is in use by another DP5 server (it holds \(path)); give each server its own \(key) in \(configurationFile)"
            )
        }
        self.descriptor = descriptor
    }

    /// Released when the lock goes, on every path out of the server's run (errors included).
    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// Whether two paths name one directory (after symbolic links and `.`), so that it is not
    /// locked twice: `flock` locks belong to an open file, so a second open would conflict.
    static func sameDirectory(_ first: String, _ second: String) -> Bool {
        func identity(_ path: String) -> (device: Int, inode: Int)? {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let device = (attributes[.systemNumber] as? NSNumber)?.intValue,
                let inode = (attributes[.systemFileNumber] as? NSNumber)?.intValue
            else { return nil }
            return (device, inode)
        }
        guard let a = identity(first), let b = identity(second) else { return false }
        return a == b
    }
}
