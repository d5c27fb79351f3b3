import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// A test's own failure, with what was seen.
struct OperationsFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `GET http://127.0.0.1:port/path`: status and body.
func get(port: Int, _ path: String) async throws -> (status: Int, body: String) {
    let response = try await HTTPClient.shared.execute(
        HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"),
        timeout: .seconds(10)
    )
    let body = try await response.body.collect(upTo: 1 << 22)
    return (Int(response.status.code), String(buffer: body))
}

/// Prometheus text format, parsed strictly: every sample is `name{labels} value` of a family
/// declared by a `# TYPE` line before it. Keys are `name{labels}` as written.
func parsePrometheus(_ text: String) throws -> [String: Double] {
    var families: Set<String> = []
    var samples: [String: Double] = [:]
    for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                throw OperationsFailure("bad TYPE line: \(line)")
            }
            families.insert(String(parts[2]))
            continue
        }
        if line.hasPrefix("#") { continue }
        guard let space = line.lastIndex(of: " ") else { throw OperationsFailure("no value: \(line)") }
        let key = String(line[..<space])
        let valueText = line[line.index(after: space)...]
        guard let value = Double(valueText) ?? (valueText == "+Inf" ? .infinity : nil) else {
            throw OperationsFailure("bad value: \(line)")
        }
        let name = String(key.prefix { $0 != "{" })
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }), let first = name.first,
            !first.isNumber
        else {
            throw OperationsFailure("bad metric name: \(line)")
        }
        let family = ["_bucket", "_sum", "_count"].reduce(name) { name, suffix in
            name.hasSuffix(suffix) && families.contains(String(name.dropLast(suffix.count)))
                ? String(name.dropLast(suffix.count)) : name
        }
        guard families.contains(family) else { throw OperationsFailure("sample before its # TYPE line: \(line)") }
        if key.contains("{") {
            guard key.hasSuffix("}") else { throw OperationsFailure("unterminated labels: \(line)") }
        }
        samples[key] = value
    }
    return samples
}

/// Where the build put the commands: beside the test bundle.
func productsDirectory() throws -> URL {
    var candidates: [URL] = []
    if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
    for bundle in Bundle.allBundles { candidates.append(bundle.bundleURL.deletingLastPathComponent()) }
    if let path = CommandLine.arguments.first {
        candidates.append(URL(fileURLWithPath: path).deletingLastPathComponent())
    }
    for directory in candidates
    where FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("psepr").path) {
        return directory
    }
    throw OperationsFailure("psepr and dp5 not found beside the tests (looked in \(candidates.map(\.path)))")
}

/// The package's root (for scripts/install.sh).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A finished command's exit status and output.
struct CommandResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
}

/// Runs `executable` with `arguments` to the end, killing it after `seconds`.
///
/// Output goes to files, not pipes: reading a pipe would block a thread of the cooperative pool
/// (on two cores, all of it, starving a server the test runs in-process), and a browser's helper
/// processes keep pipes open after the browser exits.
func runCommand(
    _ executable: URL,
    _ arguments: [String],
    environment: [String: String]? = nil,
    seconds: Int = 120
) async throws -> CommandResult {
    let directory = try temporaryDirectory("command")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let outputPath = directory + "/stdout"
    let errorPath = directory + "/stderr"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    let error = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    defer {
        try? output.close()
        try? error.close()
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = output
    process.standardError = error
    process.standardInput = FileHandle.nullDevice
    let (exits, exited) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
    process.terminationHandler = { exited.yield($0.terminationStatus) }
    try process.run()
    let pid = process.processIdentifier
    let status = await withTaskGroup(of: Int32?.self) { group in
        group.addTask { await exits.first { _ in true } }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
    }
    guard let status else {
        kill(pid, SIGKILL)
        throw OperationsFailure(
            "\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish within \(seconds) s"
        )
    }
    return CommandResult(
        status: status,
        standardOutput: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
        standardError: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
    )
}

func temporaryDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
