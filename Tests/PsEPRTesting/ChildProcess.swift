import Foundation
import PsEPRLoadGenerator
import PsEPRServer

/// A child process whose output goes to a file (never a pipe, so nothing can block on a full
/// or unread pipe), whose exit is announced, and which is killed if it outlives the test.
public final class ChildProcess: Sendable {
    let process: Process
    let output: URL
    let exits: AsyncStream<Int32>

    /// Starts `/usr/bin/env arguments…`.
    public init(arguments: [String]) throws {
        output = FileManager.default.temporaryDirectory.appendingPathComponent("test-child-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let (exits, continuation) = AsyncStream.makeStream(of: Int32.self)
        self.exits = exits
        process.terminationHandler = { process in
            continuation.yield(process.terminationStatus)
            continuation.finish()
        }
        try process.run()
        try handle.close()
    }

    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }

    /// What it has written so far (standard output and error).
    public var text: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// The exit status, waiting at most `seconds`; the process is killed after that.
    public func exitStatus(seconds: Int) async throws -> Int32 {
        let exits = self.exits
        do {
            return try await within(seconds: seconds, "python3 to exit") {
                for await status in exits { return status }
                return -1
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Ends it if it still runs.
    public func stop() {
        if process.isRunning { process.terminate() }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: output)
    }
}

extension ChildProcess {
    /// Runs `/usr/bin/env arguments…` to its end, at most `seconds` (then it is killed and this
    /// throws), and returns its exit status and output.
    public static func run(_ arguments: [String], seconds: Int) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(arguments: arguments)
        defer { child.stop() }
        let status = try await child.exitStatus(seconds: seconds)
        return (status, child.text)
    }
}
