import Foundation
import Testing

@testable import DP5Core

/// The combined suite's values checked by py_ecc, an independent BLS12-381 implementation, in
/// `Tests/Interop/bls_crosscheck.py`: σ verifies as an IETF BLS signature under the suite's DST,
/// hash_to_G2 of the epoch agrees, and e(g1, g2) has the same 576 bytes. Runs wherever python3
/// can import py_ecc; under CI (`CI=true`, where `.ci/run` installs it) always, so a missing
/// py_ecc fails there instead of being skipped.
@Suite struct BLSInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop").appendingPathComponent("bls_crosscheck.py").path

    static var available: Bool {
        ProcessInfo.processInfo.environment["CI"] == "true" || (try? run(["-c", "import py_ecc"]).status) == 0
    }

    @Test(.enabled(if: available, "python3 with py_ecc (pip install py_ecc)"))
    func pyEccAgreesWithSignatureHashAndPairing() throws {
        let key = try BLSPrivateKey(
            rawRepresentation: [UInt8](hexString: "263dbd792f5b1be47ed85f8938c0f29586af0d3ac7b977f21c278fe1462040e3")!
        )
        let epoch = Epoch(987_654)
        let hash = CombinedEpochHash(epoch: epoch)
        let sigma = key.epochSignature(hash)
        let gt = BLS12381.pairing(.generator, .generator)
        let outcome = try Self.run([
            Self.script, key.rawRepresentation.hexString, key.publicKey.rawRepresentation.hexString,
            "\(epoch.rawValue)",
            sigma.compressed.hexString, hash.point.compressed.hexString, gt.hexString,
        ])
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(!outcome.output.contains("FAIL"), "\(outcome.output)")
        #expect(outcome.output.components(separatedBy: "OK ").count == 6, "\(outcome.output)")
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
