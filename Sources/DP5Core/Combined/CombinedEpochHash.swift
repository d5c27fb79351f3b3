import Synchronization

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
    private let memo: HashedKeyMemo?

    /// Hashes `epoch` to G2 and prepares the pairing lines.
    ///
    /// - Parameter memoizing: keep every hashed key computed, for callers that look the same
    ///   keys up many times in one epoch (the harness's simulated users share one process).
    public init(epoch: Epoch, memoizing: Bool = false) {
        self.epoch = epoch
        self.point = BLS12381.hashToG2(epoch.wireBytes, dst: Self.domainSeparationTag)
        self.prepared = PreparedG2Point(point)
        self.memo = memoizing ? HashedKeyMemo() : nil
    }

    /// HK = H4(e(P, H_G2(E))): the hashed key under which `buddy`'s record for this epoch is stored.
    public func hashedKey(for buddy: BLSPublicKey) -> [UInt8] {
        if let known = memo?.table.withLock({ $0[buddy] }) { return known }
        let key = KeyDerivation.combinedHashedKey(pairingValue: BLS12381.pairing(buddy.point, prepared))
        memo?.table.withLock { $0[buddy] = key }
        return key
    }
}

/// Hashed keys already computed for one epoch.
private final class HashedKeyMemo: Sendable {
    let table = Mutex<[BLSPublicKey: [UInt8]]>([:])
}
