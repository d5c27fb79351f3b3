import Testing

@testable import DP5Core

/// The BLS12-381 arithmetic against published values (RFC 9380, the ZCash serialisation of the
/// generators) and the pairing's defining properties.
@Suite("BLS12-381")
struct BLS12381Tests {
    static func scalar(_ value: UInt64) -> [UInt8] {
        [UInt8](repeating: 0, count: 24) + (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    @Test func generatorsHaveTheirWellKnownCompressedForms() {
        #expect(
            G1Point.generator.compressed.hexString
                == "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        )
        #expect(
            G2Point.generator.compressed.hexString
                == "93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
                + "024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"
        )
    }

    /// RFC 9380 Appendix K.1, expand_message_xmd with SHA-256.
    @Test(arguments: [
        ("", 0x20, "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"),
        ("abc", 0x20, "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"),
        ("abcdef0123456789", 0x20, "eff31487c770a893cfb36f912fbfcbff40d5661771ca4b2cb4eafe524333f5c1"),
        (
            "", 0x80,
            "af84c27ccfd45d41914fdff5df25293e221afc53d8ad2ac06d5e3e29485dadbee0d121587713a3e0dd4d5e69e93eb7cd4f5df4cd103e188cf60cb02edc3edf18eda8576c412b18ffb658e3dd6ec849469b979d444cf7b26911a08e63cf31f9dcc541708d3491184472c2c29bb749d4286b004ceb5ee6b9a7fa5b646c993f0ced"
        ),
        (
            "abc", 0x80,
            "abba86a6129e366fc877aab32fc4ffc70120d8996c88aee2fe4b32d6c7b6437a647e6c3163d40b76a73cf6a5674ef1d890f95b664ee0afa5359a5c4e07985635bbecbac65d747d3d2da7ec2b8221b17b0ca9dc8a1ac1c07ea6a1e60583e2cb00058e77b7b72a298425cd1b941ad4ec65e8afc50303a22c0f99b0509b4c895f40"
        ),
    ])
    func expandMessageXMDMatchesRFC9380(message: String, length: Int, expected: String) {
        let dst = Array("QUUX-V01-CS02-with-expander-SHA256-128".utf8)
        #expect(BLS12381.expandMessageXMD(Array(message.utf8), dst: dst, length: length).hexString == expected)
    }

    /// RFC 9380 Appendix J.10.1, BLS12381G2_XMD:SHA-256_SSWU_RO_: P = (x0 + x1 u, y0 + y1 u).
    @Test(arguments: [
        (
            "",
            [
                "0141ebfbdca40eb85b87142e130ab689c673cf60f1a3e98d69335266f30d9b8d4ac44c1038e9dcdd5393faf5c41fb78a",
                "05cb8437535e20ecffaef7752baddf98034139c38452458baeefab379ba13dff5bf5dd71b72418717047f5b0f37da03d",
                "0503921d7f6a12805e72940b963c0cf3471c7b2a524950ca195d11062ee75ec076daf2d4bc358c4b190c0c98064fdd92",
                "12424ac32561493f3fe3c260708a12b7c620e7be00099a974e259ddc7d1f6395c3c811cdd19f1e8dbf3e9ecfdcbab8d6",
            ]
        ),
        (
            "abc",
            [
                "02c2d18e033b960562aae3cab37a27ce00d80ccd5ba4b7fe0e7a210245129dbec7780ccc7954725f4168aff2787776e6",
                "139cddbccdc5e91b9623efd38c49f81a6f83f175e80b06fc374de9eb4b41dfe4ca3a230ed250fbe3a2acf73a41177fd8",
                "1787327b68159716a37440985269cf584bcb1e621d3a7202be6ea05c4cfe244aeb197642555a0645fb87bf7466b2ba48",
                "00aa65dae3c8d732d10ecd2c50f8a1baf3001578f71c694e03866e9f3d49ac1e1ce70dd94a733534f106d4cec0eddd16",
            ]
        ),
    ])
    func hashToG2MatchesRFC9380(message: String, coordinates: [String]) throws {
        let dst = Array("QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_".utf8)
        let point = BLS12381.hashToG2(Array(message.utf8), dst: dst)
        #expect(point.affineCoordinates.hexString == coordinates.joined())
        // The hashed point decodes again: on the twist and in G2.
        #expect(try G2Point(compressed: point.compressed) == point)
    }

    @Test func pairingIsBilinear() {
        let a = Self.scalar(0x1234_5678_9abc_def1)
        let b = Self.scalar(0x0fed_cba9_8765_4321)
        let base = BLS12381.pairing(.generator, .generator)
        let left = BLS12381.pairing(G1Point.generator.multiplied(by: a), G2Point.generator.multiplied(by: b))
        let power = BLS12381.gtPower(BLS12381.gtPower(base, scalar: a)!, scalar: b)!
        #expect(left == power)
        // Moving a scalar between the arguments keeps the value.
        let moved = BLS12381.pairing(G1Point.generator.multiplied(by: a).multiplied(by: b), .generator)
        #expect(moved == left)
    }

    @Test func pairingIsNonDegenerateAndOfOrderR() {
        let base = BLS12381.pairing(.generator, .generator)
        var one = [UInt8](repeating: 0, count: BLS12381.gtBytes)
        one[47] = 1
        #expect(base != one)
        // r in big-endian: e^r = 1.
        let r = [UInt8](hexString: "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001")!
        #expect(BLS12381.gtPower(base, scalar: r) == one)
        // The identity in either argument gives 1.
        let identity = try? G1Point(compressed: [0xC0] + [UInt8](repeating: 0, count: 47))
        #expect(identity == nil)
        #expect(BLS12381.pairing(G1Point.generator.multiplied(by: r), .generator) == one)
    }

    @Test func preparedPairingEqualsThePlainOne() {
        let q = G2Point.generator.multiplied(by: Self.scalar(77))
        let p = G1Point.generator.multiplied(by: Self.scalar(1_000_003))
        #expect(BLS12381.pairing(p, PreparedG2Point(q)) == BLS12381.pairing(p, q))
    }

    @Test func encodingsRoundTrip() throws {
        for k in [UInt64(1), 2, 3, 0xffff_ffff_ffff_ffff] {
            let p = G1Point.generator.multiplied(by: Self.scalar(k))
            #expect(try G1Point(compressed: p.compressed) == p)
            let q = G2Point.generator.multiplied(by: Self.scalar(k))
            #expect(try G2Point(compressed: q.compressed) == q)
        }
    }

    static let g1Refusals: [(String, BLSPointError)] = [
        // x = 1: x^3 + 4 = 5 has no square root.
        (
            "800000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
            .notOnCurve
        ),
        // x = 4: on the curve, outside G1 (found with py_ecc).
        (
            "800000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000004",
            .notInSubgroup
        ),
        ("c00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", .identity),
        // Infinity with the sign bit, infinity with a non-zero x, no compression flag.
        (
            "e00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            .malformedEncoding
        ),
        (
            "c00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
            .malformedEncoding
        ),
        (
            "17f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb",
            .malformedEncoding
        ),
        // x = p: not canonical.
        (
            "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab",
            .malformedEncoding
        ),
    ]

    @Test(arguments: g1Refusals)
    func badG1EncodingsAreRefused(hex: String, error: BLSPointError) {
        #expect(throws: error) { try G1Point(compressed: [UInt8](hexString: hex)!) }
    }

    static let g2Refusals: [(String, BLSPointError)] = [
        ("80" + String(repeating: "0", count: 92) + "01" + String(repeating: "0", count: 94) + "06", .notOnCurve),
        ("a0" + String(repeating: "0", count: 92) + "01" + String(repeating: "0", count: 94) + "01", .notInSubgroup),
        ("c0" + String(repeating: "0", count: 190), .identity),
        ("e0" + String(repeating: "0", count: 190), .malformedEncoding),
        // x.c0 = p.
        (
            "80" + String(repeating: "0", count: 94)
                + "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab",
            .malformedEncoding
        ),
        (
            "13e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
                + "024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8",
            .malformedEncoding
        ),
    ]

    @Test(arguments: g2Refusals)
    func badG2EncodingsAreRefused(hex: String, error: BLSPointError) {
        #expect(throws: error) { try G2Point(compressed: [UInt8](hexString: hex)!) }
    }

    @Test func wrongLengthsAreRefused() {
        #expect(throws: BLSPointError.wrongLength(47)) { try G1Point(compressed: [UInt8](repeating: 0x80, count: 47)) }
        #expect(throws: BLSPointError.wrongLength(97)) { try G2Point(compressed: [UInt8](repeating: 0x80, count: 97)) }
    }

    @Test func privateKeysAreScalarsBelowR() throws {
        #expect(throws: DP5Error(.invalidKey, "")) {
            try BLSPrivateKey(rawRepresentation: [UInt8](repeating: 0, count: 32))
        }
        let r = [UInt8](hexString: "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001")!
        #expect(throws: DP5Error(.invalidKey, "")) { try BLSPrivateKey(rawRepresentation: r) }
        var rMinusOne = r
        rMinusOne[31] = 0
        let key = try BLSPrivateKey(rawRepresentation: rMinusOne)
        // (r - 1) g1 = -g1: the same x, the other y.
        #expect(key.publicKey.rawRepresentation.dropFirst() == G1Point.generator.compressed.dropFirst())
        #expect(key.publicKey.rawRepresentation[0] == G1Point.generator.compressed[0] ^ 0x20)
    }
}
