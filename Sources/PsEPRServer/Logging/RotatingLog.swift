import Foundation
public import Logging
public import ServerOperations
import Synchronization

/// A rotating set of log files: `PsEPRServer.log`, then `PsEPRServer.log.1` … `.9` as each fills,
/// so logs never need trimming (Server Guide: at most 10 files of at most 1 MB).
///
/// Writes are serialised by a mutex. A write that fails (a full disk, a removed directory) is
/// counted and reported once on standard error; the server keeps running and retries on the next
/// rotation or ``reopen()``.
public final class RotatingLogFile: Sendable {
    /// The directory holding the files.
    public let directory: String
    /// The current file's name.
    public let baseName: String
    /// Most files kept, the current one included.
    public let maximumFiles: Int
    /// Size at which the current file is rotated.
    public let maximumFileBytes: Int

    private struct State {
        var handle: FileHandle?
        var size = 0
        var failedWrites = 0
    }

    private let state = Mutex(State())

    /// Opens (creating the directory and file if needed) the log in `directory`.
    ///
    /// - Throws: when the directory cannot be created or the file cannot be opened.
    public init(
        directory: String,
        baseName: String = "PsEPRServer.log",
        maximumFiles: Int = 10,
        maximumFileBytes: Int = 1 << 20
    ) throws {
        self.directory = directory
        self.baseName = baseName
        self.maximumFiles = max(1, maximumFiles)
        self.maximumFileBytes = max(1024, maximumFileBytes)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let opened = try Self.open(path(0))
        state.withLock { $0 = State(handle: opened.handle, size: opened.size) }
    }

    /// The path of file `index` (0 is the current one).
    public func path(_ index: Int) -> String {
        let base = (directory as NSString).appendingPathComponent(baseName)
        return index == 0 ? base : "\(base).\(index)"
    }

    /// Writes exactly these bytes, rotating first if they would overflow the current file.
    public func write(_ line: String) {
        let bytes = Data(line.utf8)
        state.withLock { state in
            if state.size > 0, state.size + bytes.count > maximumFileBytes { rotate(&state) }
            guard let handle = state.handle else { return recordFailure(&state, "no log file is open") }
            do {
                try handle.write(contentsOf: bytes)
                state.size += bytes.count
            } catch {
                recordFailure(&state, "\(error)")
            }
        }
    }

    /// Closes and reopens the current file (the `resetLogfile` command; after an operator moved it).
    public func reopen() {
        state.withLock { state in
            try? state.handle?.close()
            state.handle = nil
            openCurrent(&state)
        }
    }

    /// Writes that failed so far.
    public var failedWrites: Int { state.withLock { $0.failedWrites } }

    private func rotate(_ state: inout State) {
        try? state.handle?.close()
        state.handle = nil
        let files = FileManager.default
        try? files.removeItem(atPath: path(maximumFiles - 1))
        if maximumFiles > 1 {
            for index in stride(from: maximumFiles - 2, through: 0, by: -1) where files.fileExists(atPath: path(index))
            {
                try? files.moveItem(atPath: path(index), toPath: path(index + 1))
            }
        } else {
            try? files.removeItem(atPath: path(0))
        }
        openCurrent(&state)
    }

    private func openCurrent(_ state: inout State) {
        do {
            let opened = try Self.open(path(0))
            state.handle = opened.handle
            state.size = opened.size
        } catch {
            recordFailure(&state, "\(error)")
        }
    }

    private func recordFailure(_ state: inout State, _ reason: String) {
        state.failedWrites += 1
        if state.failedWrites == 1 {
            FileHandle.standardError.write(
                Data(
                    "psepr: cannot write the log in \(directory): \(reason); further failures are counted silently\n"
                        .utf8
                )
            )
        }
    }

    /// Log files are readable by their owner only: they name services, addresses and parameters.
    static let filePermissions: Int16 = 0o600

    private static func open(_ path: String) throws -> (handle: FileHandle, size: Int) {
        if !FileManager.default.fileExists(atPath: path) {
            guard
                FileManager.default.createFile(
                    atPath: path,
                    contents: nil,
                    attributes: [.posixPermissions: filePermissions]
                )
            else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        } else {
            // A file left by an older version, or created by hand, is tightened too.
            try? FileManager.default.setAttributes([.posixPermissions: filePermissions], ofItemAtPath: path)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        let size = try handle.seekToEnd()
        return (handle, Int(size))
    }
}

/// A swift-log handler filtering by the Server Guide's `filterLevel` categories and writing one
/// line per entry to a ``RotatingLogFile`` and, when wanted, to standard error.
public struct CategoryLogHandler: LogHandler {
    /// The filter and files, shared with the command service so both can change while running.
    public let control: LogControl
    /// The categories written; BADERROR always is.
    public var filter: LogCategory {
        get { control.filter }
        nonmutating set { control.filter = newValue }
    }
    /// The rotating files, if any.
    public var file: RotatingLogFile? { control.file }
    /// Whether entries also go to standard error.
    public let echoToStandardError: Bool
    /// The line format, files and standard error alike.
    public var format: LogFormat = .text
    /// Entries below this level are not written, whatever their category.
    public var minimumLevel: Logger.Level = .trace
    /// The logger's label.
    public let label: String
    public var metadata: Logger.Metadata = [:]
    /// Every level reaches the handler; the category filter decides.
    public var logLevel: Logger.Level = .trace

    /// Creates a handler.
    public init(label: String, filter: LogCategory, file: RotatingLogFile?, echoToStandardError: Bool) {
        self.init(
            label: label,
            control: LogControl(filter: filter, file: file),
            echoToStandardError: echoToStandardError
        )
    }

    /// Creates a handler over shared controls.
    public init(label: String, control: LogControl, echoToStandardError: Bool) {
        self.label = label
        self.control = control
        self.echoToStandardError = echoToStandardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard event.level >= minimumLevel else { return }
        let category = LogCategory.of(level: event.level, metadata: event.metadata)
        guard category == .badError || !category.isDisjoint(with: filter) else { return }
        let line = Self.format(event: event, category: category, context: metadata, as: format)
        file?.write(line)
        if echoToStandardError { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// `2026-11-22T10:00:00Z LEASE info: message key=value …` in text (see ``LogFormat``).
    static func format(
        event: LogEvent,
        category: LogCategory,
        context: Logger.Metadata,
        as format: LogFormat = .text
    ) -> String {
        var fields = context
        if let metadata = event.metadata { fields.merge(metadata) { $1 } }
        fields[LogCategory.metadataKey] = nil
        return format.line(
            time: Date(),
            level: event.level,
            category: category.name,
            message: "\(event.message)",
            metadata: fields
        )
    }
}
