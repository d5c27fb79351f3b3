/// H_G2(E) for one epoch, with its Miller-loop lines precomputed: everything a combined-mode
/// lookup needs that depends on the epoch alone, computed once per epoch.
public struct CombinedEpochHash: Sendable {
    /// The hash-to-curve domain separation tag of DP5's combined suite.
    public static let domainSeparationTag = Array("DP5-COMBINED-V1-EPOCH_BLS12381G2_XMD:SHA-256_SSWU_RO_".utf8)

    /// The epoch.
    public let epoch: Epoch
    /// hash_to_curve(E as 4 bytes big-endian).
    public let point: G2Point
    let prepared: PreparedG2Point

    /// Hashes `epoch` to G2 and prepares the pairing lines.
    public init(epoch: Epoch) {
        self.epoch = epoch
        self.point = BLS12381.hashToG2(epoch.wireBytes, dst: Self.domainSeparationTag)
        self.prepared = PreparedG2Point(point)
    }

    /// HK = H4(e(P, H_G2(E))): the hashed key under which `buddy`'s record for this epoch is stored.
    public func hashedKey(for buddy: BLSPublicKey) -> [UInt8] {
        KeyDerivation.combinedHashedKey(pairingValue: BLS12381.pairing(buddy.point, prepared))
    }
}
