/// The metadata of one epoch's database (version 2, 30 bytes, the later original's format).
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | version, 0x02 |
/// | 1 | 1 | suite: 0x00 standard, 0x02 combined DP5-COMBINED-V1 (BLS12-381); the original's BN254 combined 0x01 is refused |
/// | 2 | 4 | epoch (big-endian) |
/// | 6 | 4 | dataEncSize (big-endian) |
/// | 10 | 4 | epochLength (big-endian) |
/// | 14 | 4 | number of buckets (big-endian) |
/// | 18 | 4 | bucket size in records (big-endian) |
/// | 22 | 8 | PRF key |
///
/// The lookup server's reply to a metadata request is exactly this file.
public struct Metadata: Sendable, Hashable {
    /// The format version this type reads and writes.
    public static let version: UInt8 = 0x02
    /// Length of the wire form.
    public static let byteCount = 30

    /// Whether the database belongs to the combined (BLS) mechanism.
    public var combined: Bool
    /// The epoch whose registrations the database holds.
    public var epoch: Epoch
    /// Bytes of encrypted data per record.
    public var dataEncSize: UInt32
    /// Seconds per epoch.
    public var epochLength: UInt32
    /// Number of buckets (PIR blocks).
    public var numberOfBuckets: UInt32
    /// Records per bucket.
    public var bucketSize: UInt32
    /// The key of the PRF that maps a hashed key to its bucket.
    public var prfKey: [UInt8]

    /// Creates metadata.
    public init(
        combined: Bool,
        epoch: Epoch,
        dataEncSize: UInt32,
        epochLength: UInt32,
        numberOfBuckets: UInt32,
        bucketSize: UInt32,
        prfKey: [UInt8]
    ) {
        precondition(prfKey.count == DP5Parameters.prfKeyBytes)
        self.combined = combined
        self.epoch = epoch
        self.dataEncSize = dataEncSize
        self.epochLength = epochLength
        self.numberOfBuckets = numberOfBuckets
        self.bucketSize = bucketSize
        self.prfKey = prfKey
    }

    /// Parses the 30-byte wire form.
    ///
    /// - Throws: ``DP5Error/Code/malformedMetadata`` (original code 0x02) on a wrong length or
    ///   version, a combined flag other than 0 or 1, `dataEncSize` below 16, a zero epoch length
    ///   or no buckets.
    public init(rawRepresentation bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw DP5Error(
                .malformedMetadata,
                "metadata is \(bytes.count) bytes, expected \(Self.byteCount)",
                originalCode: 0x02
            )
        }
        guard bytes[0] == Self.version else {
            throw DP5Error(
                .malformedMetadata,
                "metadata version \(bytes[0]), expected \(Self.version)",
                originalCode: 0x02
            )
        }
        guard bytes[1] == 0 || bytes[1] == CombinedParameters.metadataSuite else {
            let detail =
                bytes[1] == 1 ? " (the original's BN254 combined suite, which this implementation does not speak)" : ""
            throw DP5Error(
                .malformedMetadata,
                "metadata suite byte \(bytes[1])\(detail) is neither 0 (standard) nor \(CombinedParameters.metadataSuite) (combined BLS12-381)",
                originalCode: 0x02
            )
        }
        self.combined = bytes[1] == CombinedParameters.metadataSuite
        self.epoch = Epoch(bytes.bigEndianUInt32(atOffset: 2))
        self.dataEncSize = bytes.bigEndianUInt32(atOffset: 6)
        self.epochLength = bytes.bigEndianUInt32(atOffset: 10)
        self.numberOfBuckets = bytes.bigEndianUInt32(atOffset: 14)
        self.bucketSize = bytes.bigEndianUInt32(atOffset: 18)
        self.prfKey = Array(bytes[22..<30])
        guard dataEncSize >= UInt32(DP5Parameters.tagBytes), epochLength > 0, numberOfBuckets > 0 else {
            throw DP5Error(.malformedMetadata, "metadata has impossible sizes", originalCode: 0x02)
        }
        // The sizes come from a server: ones whose products overflow, or a data file past
        // `maximumDataFileBytes`, are refused before anything is computed or buffered from them.
        let bucket = Int(bucketSize).multipliedReportingOverflow(by: DP5Parameters.hashedKeyBytes + Int(dataEncSize))
        let file = Int(numberOfBuckets).multipliedReportingOverflow(by: bucket.partialValue)
        guard !bucket.overflow, !file.overflow, file.partialValue <= Self.maximumDataFileBytes else {
            throw DP5Error(
                .malformedMetadata,
                "metadata describes a data file of \(numberOfBuckets) buckets of \(bucketSize) records of \(dataEncSize)-byte data, more than \(Self.maximumDataFileBytes) bytes",
                originalCode: 0x02
            )
        }
    }

    /// The largest data file a metadata may describe (1 TiB; 10,000 users take about 100 MB).
    public static let maximumDataFileBytes = 1 << 40

    /// The 30-byte wire form.
    public var rawRepresentation: [UInt8] {
        var bytes: [UInt8] = [Self.version, combined ? CombinedParameters.metadataSuite : 0]
        bytes.reserveCapacity(Self.byteCount)
        bytes.appendBigEndian(epoch.rawValue)
        bytes.appendBigEndian(dataEncSize)
        bytes.appendBigEndian(epochLength)
        bytes.appendBigEndian(numberOfBuckets)
        bytes.appendBigEndian(bucketSize)
        bytes.append(contentsOf: prfKey)
        return bytes
    }

    /// Bytes per record: `10 + dataEncSize`.
    public var recordSize: Int { DP5Parameters.hashedKeyBytes + Int(dataEncSize) }
    /// Bytes per bucket.
    public var bucketBytes: Int { Int(bucketSize) * recordSize }
    /// Bytes of the data file (64-bit: no wrap at 4 GiB).
    public var dataFileSize: Int { Int(numberOfBuckets) * bucketBytes }

    /// Checks that the database was built with `configuration`'s parameters.
    ///
    /// - Throws: ``DP5Error/Code/configurationMismatch`` naming both values of each key that differs.
    public func check(matches configuration: DP5Configuration) throws {
        try configuration.check(serverEpochLength: epochLength, dataEncSize: Int(dataEncSize), combined: combined)
    }

    /// The bucket that holds the record with `hashedKey`.
    public func bucket(forHashedKey hashedKey: some Collection<UInt8>) -> Int {
        Int(KeyDerivation.bucket(prfKey: prfKey, hashedKey: hashedKey, numberOfBuckets: numberOfBuckets))
    }
}
