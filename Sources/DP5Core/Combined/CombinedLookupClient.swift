/// Looks up buddies' presence in a combined-mode database: one record per registrant, keyed by
/// H4(e(P, H_G2(E))) for the buddy's BLS public key P. No private key is involved; the buddy's
/// data opens with H5(E, P) and AAD E ‖ P.
///
/// The requests, replies and checks are those of standard mode (``PreparedLookup``); only the
/// targets differ.
public struct CombinedLookupClient: Sendable {
    /// Creates a combined lookup client.
    public init() {}

    /// Plans a lookup of `buddies` in the database `metadata` describes.
    ///
    /// - Parameter epochHash: H_G2(E) prepared for `metadata.epoch`; pass one to share its
    ///   precomputation between lookups of the same epoch (it is computed here otherwise).
    /// - Throws: ``DP5Error/Code/tooManyBuddies`` for more than 100 buddies,
    ///   ``DP5Error/Code/configurationMismatch`` for a standard-mode database.
    public func prepareLookup(
        buddies: [BLSPublicKey],
        metadata: Metadata,
        parameters: LookupParameters,
        epochHash: CombinedEpochHash? = nil,
        using generator: inout some RandomNumberGenerator
    ) throws -> PreparedLookup {
        guard buddies.count <= DP5Parameters.maximumBuddies else {
            throw DP5Error(
                .tooManyBuddies,
                "\(buddies.count) buddies, at most \(DP5Parameters.maximumBuddies)",
                originalCode: 0x01
            )
        }
        guard metadata.combined else {
            throw DP5Error(
                .configurationMismatch,
                "a combined lookup needs a combined-mode database; epoch \(metadata.epoch)'s is standard"
            )
        }
        let hash =
            epochHash.flatMap { $0.epoch == metadata.epoch ? $0 : nil } ?? CombinedEpochHash(epoch: metadata.epoch)
        let targets = buddies.map { buddy -> LookupTarget? in
            let hashedKey = hash.hashedKey(for: buddy)
            return LookupTarget(
                hashedKey: hashedKey,
                dataKey: KeyDerivation.combinedDataKey(epoch: metadata.epoch, blsPublicKey: buddy.rawRepresentation),
                aad: metadata.epoch.wireBytes + buddy.rawRepresentation,
                bucket: metadata.bucket(forHashedKey: hashedKey)
            )
        }
        return LookupClient.plan(
            targets: targets,
            buddies: [],
            combinedBuddies: buddies,
            metadata: metadata,
            parameters: parameters,
            using: &generator
        )
    }

    /// Plans a lookup, drawing randomness from a cryptographically secure generator.
    public func prepareLookup(
        buddies: [BLSPublicKey],
        metadata: Metadata,
        parameters: LookupParameters,
        epochHash: CombinedEpochHash? = nil
    ) throws -> PreparedLookup {
        var generator = SecureRandomNumberGenerator()
        return try prepareLookup(
            buddies: buddies,
            metadata: metadata,
            parameters: parameters,
            epochHash: epochHash,
            using: &generator
        )
    }
}

extension CombinedLookupClient {
    /// Runs a whole combined-mode lookup over `send`, with the checks of
    /// ``LookupClient/lookup(buddies:epoch:parameters:expecting:send:)``.
    public func lookup(
        buddies: [BLSPublicKey],
        epoch: Epoch,
        parameters: LookupParameters,
        expecting configuration: DP5Configuration? = nil,
        epochHash: CombinedEpochHash? = nil,
        send: @escaping LookupClient.Send
    ) async throws -> CombinedLookupResult {
        let (prepared, records) = try await LookupClient.exchange(
            epoch: epoch,
            parameters: parameters,
            expecting: configuration,
            send: send
        ) { metadata in
            try prepareLookup(buddies: buddies, metadata: metadata, parameters: parameters, epochHash: epochHash)
        }
        return prepared.combinedResult(records)
    }
}

/// The outcome of one combined-mode lookup.
public struct CombinedLookupResult: Sendable, Hashable {
    /// How the buckets were fetched.
    public let method: LookupMethod
    /// Each buddy's presence, in the order the buddies were given.
    public let presences: [CombinedBuddyPresence]
    /// Lookup servers whose replies were refused, malformed or inconsistent with the result.
    public var faultyServers: [Int]
    /// Whether a server beyond those the answer depends on confirmed it.
    public var isVerified: Bool
}

/// Whether one buddy (by BLS public key) is online this epoch, and the data they published.
public struct CombinedBuddyPresence: Sendable, Hashable {
    /// The buddy.
    public let publicKey: BLSPublicKey
    /// The data the buddy registered for all their buddies, or `nil` if offline.
    public let data: [UInt8]?

    /// Whether the buddy registered this epoch.
    public var isOnline: Bool { data != nil }
}
