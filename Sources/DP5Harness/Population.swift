public import DP5Core

/// One simulated user: a key pair and a buddy list.
public struct SimulatedUser: Sendable, Hashable {
    /// The user's key.
    public let privateKey: DHPrivateKey
    /// The user's buddies' public keys.
    public let buddies: [DHPublicKey]

    /// Creates a user.
    public init(privateKey: DHPrivateKey, buddies: [DHPublicKey]) {
        self.privateKey = privateKey
        self.buddies = buddies
    }
}

/// Generates the harness's users, as the original `users.py` does: fresh keys, and for each user
/// `min(maximumBuddies, N)` distinct buddies drawn at random from all users (possibly itself).
public enum UserPopulation {
    /// Generates `count` users.
    public static func generate(
        count: Int,
        maximumBuddies: Int = DP5Parameters.maximumBuddies,
        using generator: inout some RandomNumberGenerator
    ) -> [SimulatedUser] {
        let keys = (0..<count).map { _ in DHPrivateKey.generate(using: &generator) }
        let publicKeys = keys.map(\.publicKey)
        let buddyCount = min(maximumBuddies, count)
        return keys.map { key in
            SimulatedUser(privateKey: key, buddies: Array(publicKeys.shuffled(using: &generator).prefix(buddyCount)))
        }
    }

    /// The data `registrant` registers for `buddy`: `"<first 3 bytes of registrant>-><first 3 of
    /// buddy>"` in hex, centred with spaces in `size` bytes (the original harness's message).
    public static func presenceData(registrant: DHPublicKey, buddy: DHPublicKey, size: Int) -> [UInt8] {
        let text = Array((registrant.rawRepresentation.prefix(3).hexString + "->" + buddy.rawRepresentation.prefix(3).hexString).utf8)
        guard text.count < size else { return Array(text.prefix(size)) }
        let left = (size - text.count) / 2
        return [UInt8](repeating: 0x20, count: left) + text + [UInt8](repeating: 0x20, count: size - text.count - left)
    }
}
