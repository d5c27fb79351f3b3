/// Fixed protocol sizes shared by every DP5 deployment.
public enum DP5Parameters {
    /// Records in every standard registration, and the most buddies one lookup may ask about.
    public static let maximumBuddies = 100
    /// Length of an X25519 private or public key.
    public static let keyBytes = 32
    /// Length of the pairwise shared key K (H1 output).
    public static let sharedKeyBytes = 10
    /// Length of the hashed key HK (H3 output), the part of a record the lookup matches on.
    public static let hashedKeyBytes = 10
    /// Length of the data key DK (H2 output), an AES-128 key.
    public static let dataKeyBytes = 16
    /// Length of the PRF key that maps hashed keys to buckets.
    public static let prfKeyBytes = 8
    /// Length of the AES-GCM tag appended to every encrypted data field.
    public static let tagBytes = 16
    /// How many PRF keys the registration server tries when it builds an epoch's database.
    public static let prfKeyCandidates = 10
    /// Query counts a PIR lookup uses: one bucket, or ``maximumBuddies`` buckets.
    public static let pirQueryCounts = (single: 1, multiple: 100)
}

/// The parameters every party of one DP5 deployment must agree on.
///
/// These are the `epochLength`, `dataEncSize` and `combined` keys of the original's JSON
/// configuration files, with the same defaults.
public struct DP5Configuration: Hashable, Sendable {
    /// Seconds per epoch (default 1800).
    public var epochLength: UInt32
    /// Bytes of encrypted data per record: plaintext plus the 16-byte GCM tag (default 32).
    public var dataEncSize: Int
    /// Whether this is the combined (BLS) mechanism. Only the standard mechanism exists so far.
    public var combined: Bool

    /// Creates and validates a configuration.
    ///
    /// - Throws: ``DP5Error/Code/invalidConfiguration`` if `epochLength` is zero or
    ///   `dataEncSize` is smaller than the 16-byte tag or larger than 1 MiB.
    public init(epochLength: UInt32 = 1800, dataEncSize: Int = 32, combined: Bool = false) throws {
        guard epochLength > 0 else {
            throw DP5Error(.invalidConfiguration, "epochLength must be at least 1 second")
        }
        guard dataEncSize >= DP5Parameters.tagBytes, dataEncSize <= 1 << 20 else {
            throw DP5Error(.invalidConfiguration, "dataEncSize must be between 16 and 1048576 bytes")
        }
        self.epochLength = epochLength
        self.dataEncSize = dataEncSize
        self.combined = combined
    }

    /// The defaults of the original: 1800-second epochs, 32-byte encrypted data, standard mode.
    public static let `default` = try! DP5Configuration()

    /// Bytes of plaintext data a registrant gives each buddy: `dataEncSize - 16`.
    public var dataPlainSize: Int { dataEncSize - DP5Parameters.tagBytes }

    /// Bytes of one record, on the wire and in the database: `10 + dataEncSize`.
    public var recordSize: Int { DP5Parameters.sharedKeyBytes + dataEncSize }

    /// The epoch that contains the instant `secondsSince1970`.
    public func epoch(atSecondsSince1970 seconds: Double) -> Epoch {
        let clamped = max(0, seconds)
        return Epoch(UInt32(truncatingIfNeeded: UInt64(clamped) / UInt64(epochLength)))
    }

    /// The epoch `clock` is in now.
    public func currentEpoch(clock: any EpochClock) -> Epoch {
        epoch(atSecondsSince1970: clock.secondsSince1970())
    }

    /// Checks a server's parameters against these.
    ///
    /// - Throws: ``DP5Error/Code/configurationMismatch`` naming both values of each key that differs.
    public func check(
        serverEpochLength: UInt32,
        dataEncSize serverDataEncSize: Int,
        combined serverCombined: Bool
    ) throws {
        var differences: [String] = []
        if serverDataEncSize != dataEncSize {
            differences.append("dataEncSize is \(serverDataEncSize) on the servers, \(dataEncSize) here")
        }
        if serverEpochLength != epochLength {
            differences.append("epochLength is \(serverEpochLength) on the servers, \(epochLength) here")
        }
        if serverCombined != combined {
            differences.append("combined is \(serverCombined) on the servers, \(combined) here")
        }
        guard differences.isEmpty else {
            throw DP5Error(.configurationMismatch, differences.joined(separator: "; "))
        }
    }

    /// The first second of `epoch`, in seconds since 1970.
    public func startOfEpoch(_ epoch: Epoch) -> UInt64 {
        UInt64(epoch.rawValue) * UInt64(epochLength)
    }
}

/// How a client spreads one lookup over the lookup servers.
public struct LookupParameters: Hashable, Sendable {
    /// Number of lookup servers L the client queries.
    public let numberOfServers: Int
    /// Privacy level t: the most servers that may collude without learning anything.
    public let privacyLevel: Int

    /// Creates and validates lookup parameters.
    ///
    /// - Throws: ``DP5Error/Code/invalidConfiguration`` unless `1 <= privacyLevel < numberOfServers <= 255`.
    public init(numberOfServers: Int, privacyLevel: Int) throws {
        guard numberOfServers >= 2, numberOfServers <= 255 else {
            throw DP5Error(.invalidConfiguration, "DP5 needs between 2 and 255 lookup servers, got \(numberOfServers)")
        }
        guard privacyLevel >= 1, privacyLevel < numberOfServers else {
            throw DP5Error(
                .invalidConfiguration,
                "privacyLevel must be at least 1 and at most one less than the number of lookup servers (\(numberOfServers)), got \(privacyLevel)"
            )
        }
        self.numberOfServers = numberOfServers
        self.privacyLevel = privacyLevel
    }
}
