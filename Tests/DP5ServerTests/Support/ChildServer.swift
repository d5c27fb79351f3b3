import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `dp5 server CONFIG` child process, so a test can kill it with SIGKILL.
///
/// The executable is the `dp5` beside the test bundle in the build folder (or `DP5_EXECUTABLE`).
/// Its port is read from its "Listening" log line.
final class ChildServer: Sendable {
    let port: Int
    private let processIdentifier: Int32
    private let exits: AsyncStream<Int32>
    private let log: LogLines

    /// Where the `dp5` executable is, or `nil` if it is not built.
    static var executable: String? {
        if let path = ProcessInfo.processInfo.environment["DP5_EXECUTABLE"] { return path }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        for directory in [
            runner.deletingLastPathComponent(), runner.deletingLastPathComponent().deletingLastPathComponent(),
        ] {
            let candidate = directory.appendingPathComponent("dp5").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private init(processIdentifier: Int32, port: Int, exits: AsyncStream<Int32>, log: LogLines) {
        self.processIdentifier = processIdentifier
        self.port = port
        self.exits = exits
        self.log = log
    }

    /// Starts `dp5 server configPath` and waits until it listens; throws if it exits first.
    static func start(configPath: String) async throws -> ChildServer {
        let executable = try #require(
            Self.executable,
            "the dp5 executable is not built next to the tests; run `swift build` first"
        )
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["server", configPath, "--log-level", "info"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let (lines, lineContinuation) = AsyncStream.makeStream(of: String.self)
        let (exits, exitContinuation) = AsyncStream.makeStream(of: Int32.self)
        let pending = Locked<[UInt8]>([])
        errors.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                lineContinuation.finish()
                return
            }
            pending.withLock { buffer in
                buffer += data
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    lineContinuation.yield(String(decoding: buffer[..<newline], as: UTF8.self))
                    buffer.removeSubrange(...newline)
                }
            }
        }
        process.terminationHandler = { process in
            exitContinuation.yield(process.terminationStatus)
            exitContinuation.finish()
        }
        try process.run()
        let log = LogLines()
        var port: Int?
        var iterator = lines.makeAsyncIterator()
        while let line = await iterator.next() {
            log.append(line)
            if line.contains("Listening"), let range = line.range(of: "dp5.address=") {
                let address = line[range.upperBound...].prefix { $0 != " " }
                port = address.split(separator: ":").last.flatMap { Int($0) }
                break
            }
        }
        // Keep draining its standard error, so it never blocks on a full pipe.
        let rest = iterator
        Task {
            var rest = rest
            while let line = await rest.next() { log.append(line) }
        }
        guard let port else {
            var statuses = exits.makeAsyncIterator()
            let status = await statuses.next()
            throw ChildServerError(
                description:
                    "dp5 server exited (status \(status.map(String.init) ?? "?")) before listening:\n\(log.all)"
            )
        }
        return ChildServer(processIdentifier: process.processIdentifier, port: port, exits: exits, log: log)
    }

    /// What the server logged so far.
    var logText: String { log.all }

    /// Sends `signal` and waits for the process to end; returns its exit status.
    @discardableResult
    func stop(signal: Int32) async -> Int32? {
        kill(processIdentifier, signal)
        var iterator = exits.makeAsyncIterator()
        return await iterator.next()
    }
}

struct ChildServerError: Error, CustomStringConvertible {
    let description: String
}

/// A value behind a lock, shareable by reference between tasks and callbacks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { try body(&$0) }
    }
}
