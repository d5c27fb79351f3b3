/// Builds combined-mode registration messages: `E ‖ σ ‖ ED`, one per user and epoch.
///
/// σ = x · H_G2(E) (96 bytes compressed); ED = AES-128-GCM(H5(E, P), data, AAD = E ‖ P) with the
/// 48-byte compressed P. Every buddy who knows P finds the record under H4(e(P, H_G2(E))),
/// which equals H4(e(g1, σ)), the key the registration server stores it under.
public struct CombinedRegistrationClient: Sendable {
    /// The registrant's BLS key.
    public let privateKey: BLSPrivateKey
    /// The combined deployment's parameters.
    public let configuration: DP5Configuration

    /// Creates a registration client for one user.
    public init(privateKey: BLSPrivateKey, configuration: DP5Configuration) {
        self.privateKey = privateKey
        self.configuration = configuration
    }

    /// The message length: 4 + 96 + dataEncSize.
    public static func messageLength(configuration: DP5Configuration) -> Int {
        4 + CombinedParameters.signatureBytes + configuration.dataEncSize
    }

    /// The registration message for `epoch` (the next epoch) carrying `data` to every buddy.
    ///
    /// Register at most once per epoch: the data key is fixed per (user, epoch), so two different
    /// messages for one epoch would reuse a GCM nonce.
    ///
    /// - Throws: ``DP5Error/Code/wrongDataLength`` (original code 0x02) unless `data` is
    ///   `dataEncSize - 16` bytes.
    public func registrationMessage(epoch: Epoch, data: [UInt8], epochHash: CombinedEpochHash? = nil) throws -> [UInt8]
    {
        guard data.count == configuration.dataPlainSize else {
            throw DP5Error(
                .wrongDataLength,
                "data must be \(configuration.dataPlainSize) bytes, got \(data.count)",
                originalCode: 0x02
            )
        }
        let hash = epochHash.flatMap { $0.epoch == epoch ? $0 : nil } ?? CombinedEpochHash(epoch: epoch)
        let signature = privateKey.epochSignature(hash).compressed
        let publicKey = privateKey.publicKey.rawRepresentation
        let dataKey = KeyDerivation.combinedDataKey(epoch: epoch, blsPublicKey: publicKey)
        let sealed = DataCipher.seal(data, key: dataKey, authenticating: epoch.wireBytes + publicKey)
        return epoch.wireBytes + signature + sealed
    }
}

/// Sizes of the combined suite DP5-COMBINED-V1 (BLS12-381).
public enum CombinedParameters {
    /// σ, a compressed G2 point.
    public static let signatureBytes = 96
    /// P, a compressed G1 point.
    public static let publicKeyBytes = 48
    /// The metadata's suite byte for DP5-COMBINED-V1; the original's BN254 suite used 1.
    public static let metadataSuite: UInt8 = 0x02
}
