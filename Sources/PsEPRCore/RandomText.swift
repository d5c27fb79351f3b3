/// Random identifiers and nonces, drawn from the system's secure generator
/// (`SystemRandomNumberGenerator`): stream IDs, lease identifiers, event IDs, handshake nonces
/// and authKeys.
public enum RandomText {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// `length` letters and digits.
    public static func alphanumeric(_ length: Int) -> String {
        String((0..<length).map { _ in alphabet.randomElement()! })
    }

    /// `byteCount` random bytes as lower-case hex.
    public static func hex(byteCount: Int) -> String {
        let digits = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(byteCount * 2)
        for _ in 0..<byteCount {
            let byte = UInt8.random(in: 0...255)
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return text
    }
}
