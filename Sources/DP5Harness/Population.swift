public import DP5Core

/// One simulated user: both key pairs and a buddy list.
public struct SimulatedUser: Sendable, Hashable {
    /// The user's key.
    public let privateKey: DHPrivateKey
    /// The user's BLS key for combined mode (`nil` in users files from before combined mode).
    public let blsPrivateKey: BLSPrivateKey?
    /// The user's buddies' public keys.
    public let buddies: [DHPublicKey]

    /// Creates a user.
    public init(privateKey: DHPrivateKey, blsPrivateKey: BLSPrivateKey? = nil, buddies: [DHPublicKey]) {
        self.privateKey = privateKey
        self.blsPrivateKey = blsPrivateKey
        self.buddies = buddies
    }
}

/// Generates the harness's users, as the original `users.py` does: fresh keys, and for each user
/// `min(maximumBuddies, N)` distinct buddies drawn at random from all users (possibly itself).
public enum UserPopulation {
    /// Generates `count` users, each with an X25519 and (unless `withBLSKeys` is false) a BLS key.
    public static func generate(
        count: Int,
        maximumBuddies: Int = DP5Parameters.maximumBuddies,
        withBLSKeys: Bool = true,
        using generator: inout some RandomNumberGenerator
    ) -> [SimulatedUser] {
        let keys = (0..<count).map { _ in DHPrivateKey.generate(using: &generator) }
        let publicKeys = keys.map(\.publicKey)
        let buddyCount = min(maximumBuddies, count)
        let buddies = keys.map { _ in Array(publicKeys.shuffled(using: &generator).prefix(buddyCount)) }
        // Drawn last, so the X25519 keys and buddy lists are those of a generator's stream before combined mode.
        let blsKeys = (0..<count).map { _ in withBLSKeys ? BLSPrivateKey.generate(using: &generator) : nil }
        return (0..<count).map { SimulatedUser(privateKey: keys[$0], blsPrivateKey: blsKeys[$0], buddies: buddies[$0]) }
    }

    /// The data a registrant publishes in a combined epoch, for all buddies at once:
    /// `"<first 3 bytes of the BLS key> online"`, centred with spaces in `size` bytes.
    public static func combinedPresenceData(registrant: BLSPublicKey, size: Int) -> [UInt8] {
        centred(Array((registrant.rawRepresentation.prefix(3).hexString + " online").utf8), size: size)
    }

    /// What a registrant tells each buddy in a two-level deployment's standard epoch: its BLS
    /// public key, padded with zeros to `size` bytes (at least 48).
    public static func keyAnnouncement(_ key: BLSPublicKey, size: Int) -> [UInt8] {
        key.rawRepresentation + [UInt8](repeating: 0, count: max(0, size - key.rawRepresentation.count))
    }

    private static func centred(_ text: [UInt8], size: Int) -> [UInt8] {
        guard text.count < size else { return Array(text.prefix(size)) }
        let left = (size - text.count) / 2
        return [UInt8](repeating: 0x20, count: left) + text + [UInt8](repeating: 0x20, count: size - text.count - left)
    }

    /// The data `registrant` registers for `buddy`: `"<first 3 bytes of registrant>-><first 3 of
    /// buddy>"` in hex, centred with spaces in `size` bytes (the original harness's message).
    public static func presenceData(registrant: DHPublicKey, buddy: DHPublicKey, size: Int) -> [UInt8] {
        let text = Array(
            (registrant.rawRepresentation.prefix(3).hexString + "->" + buddy.rawRepresentation.prefix(3).hexString).utf8
        )
        guard text.count < size else { return Array(text.prefix(size)) }
        let left = (size - text.count) / 2
        return [UInt8](repeating: 0x20, count: left) + text + [UInt8](repeating: 0x20, count: size - text.count - left)
    }
}
