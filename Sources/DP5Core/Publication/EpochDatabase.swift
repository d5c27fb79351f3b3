/// One epoch's published database: the metadata file and the data file a registration server
/// writes at the epoch change, and lookup servers serve.
public struct EpochDatabase: Sendable, Hashable {
    /// The metadata file (30 bytes in wire form).
    public let metadata: Metadata
    /// The data file: `numberOfBuckets` buckets of `bucketSize` records each.
    public let data: [UInt8]

    /// Builds the database of `epoch` from all records registered for it.
    ///
    /// Follows the later original exactly, so the same records and PRF key give the same bytes:
    /// 1. whole duplicate records are removed, the rest sorted as unsigned byte strings;
    /// 2. `numberOfBuckets = ceil(sqrt(max(n, 1) · recordSize))`, in 64-bit arithmetic;
    /// 3. ten random PRF keys are tried, each abandoned as soon as a bucket reaches the best
    ///    load so far; the key with the smallest largest bucket wins, that load is `bucketSize`;
    /// 4. each bucket is zero-padded on the left and holds its records in descending order.
    ///
    /// Random bytes are drawn only for the candidate keys, 8 bytes each.
    ///
    /// - Parameter records: the stored records, `HK ‖ ED` each, in any order.
    /// - Throws: ``DP5Error/Code/malformedRegistrationStore`` if `records` is not a whole number
    ///   of records; ``DP5Error/Code/databaseTooLarge`` if a size exceeds the metadata's 32 bits.
    public static func build(
        records: [UInt8],
        epoch: Epoch,
        configuration: DP5Configuration,
        using generator: inout some RandomNumberGenerator
    ) throws -> EpochDatabase {
        let recordSize = configuration.recordSize
        guard records.count % recordSize == 0 else {
            throw DP5Error(
                .malformedRegistrationStore,
                "\(records.count) bytes of registrations is not a whole number of \(recordSize)-byte records"
            )
        }
        let unique = uniqueSortedRecords(records, recordSize: recordSize)
        let buckets = numberOfBuckets(records: unique.count, recordSize: recordSize)
        guard buckets <= UInt64(UInt32.max), unique.count < Int(UInt32.max) else {
            throw DP5Error(
                .databaseTooLarge,
                "\(unique.count) records need more buckets than the metadata can describe"
            )
        }
        let search = searchPRFKey(
            records: records,
            order: unique,
            recordSize: recordSize,
            numberOfBuckets: UInt32(buckets),
            using: &generator
        )
        let metadata = Metadata(
            combined: configuration.combined,
            epoch: epoch,
            dataEncSize: UInt32(configuration.dataEncSize),
            epochLength: configuration.epochLength,
            numberOfBuckets: UInt32(buckets),
            bucketSize: UInt32(search.bucketSize),
            prfKey: search.key
        )
        let data = layout(records: records, order: unique, assignments: search.assignments, metadata: metadata)
        return EpochDatabase(metadata: metadata, data: data)
    }

    /// Builds the database from a cryptographically secure generator.
    public static func build(records: [UInt8], epoch: Epoch, configuration: DP5Configuration) throws -> EpochDatabase {
        var generator = SecureRandomNumberGenerator()
        return try build(records: records, epoch: epoch, configuration: configuration, using: &generator)
    }

    /// `ceil(sqrt(max(n, 1) · recordSize))`, computed exactly in 64 bits.
    static func numberOfBuckets(records: Int, recordSize: Int) -> UInt64 {
        let size = UInt64(max(records, 1)) * UInt64(recordSize)
        var root = UInt64(Double(size).squareRoot())
        while root * root > size { root -= 1 }
        while (root + 1) * (root + 1) <= size { root += 1 }
        return root * root == size ? root : root + 1
    }

    /// Offsets of the distinct records, in ascending byte order.
    static func uniqueSortedRecords(_ records: [UInt8], recordSize: Int) -> [Int] {
        records.withUnsafeBytes { raw in
            func record(_ offset: Int) -> UnsafeRawBufferPointer {
                UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + recordSize)])
            }
            var order = Array(stride(from: 0, to: records.count, by: recordSize))
            order.sort { lexicographicallyPrecedes(record($0), record($1)) }
            var unique: [Int] = []
            unique.reserveCapacity(order.count)
            for offset in order where unique.last.map({ !record($0).elementsEqual(record(offset)) }) ?? true {
                unique.append(offset)
            }
            return unique
        }
    }

    /// The best of ten random PRF keys, with each record's bucket under it.
    static func searchPRFKey(
        records: [UInt8],
        order: [Int],
        recordSize: Int,
        numberOfBuckets: UInt32,
        using generator: inout some RandomNumberGenerator
    ) -> (key: [UInt8], bucketSize: Int, assignments: [UInt32]) {
        var random = RandomBytes()
        var bestSize = order.count + 1
        var bestKey: [UInt8] = []
        var bestAssignments: [UInt32] = []
        var assignments = [UInt32](repeating: 0, count: order.count)
        for _ in 0..<DP5Parameters.prfKeyCandidates {
            let key = random.bytes(DP5Parameters.prfKeyBytes, using: &generator)
            var loads = [Int](repeating: 0, count: Int(numberOfBuckets))
            var largest = 0
            var abandoned = false
            for (position, offset) in order.enumerated() {
                let hashedKey = records[offset..<(offset + DP5Parameters.hashedKeyBytes)]
                let bucket = KeyDerivation.bucket(prfKey: key, hashedKey: hashedKey, numberOfBuckets: numberOfBuckets)
                assignments[position] = bucket
                loads[Int(bucket)] += 1
                largest = max(largest, loads[Int(bucket)])
                if largest >= bestSize {
                    abandoned = true
                    break
                }
            }
            if !abandoned && largest < bestSize {
                bestSize = largest
                bestKey = key
                swap(&bestAssignments, &assignments)
                assignments = [UInt32](repeating: 0, count: order.count)
            }
        }
        return (bestKey, bestSize, bestAssignments)
    }

    /// The data file: records placed right to left in their buckets, so ascending input leaves
    /// each bucket zero-padded on the left and in descending order (the later original's layout).
    static func layout(records: [UInt8], order: [Int], assignments: [UInt32], metadata: Metadata) -> [UInt8] {
        let recordSize = metadata.recordSize
        let bucketSize = Int(metadata.bucketSize)
        var data = [UInt8](repeating: 0, count: metadata.dataFileSize)
        var filled = [Int](repeating: 0, count: Int(metadata.numberOfBuckets))
        for (position, offset) in order.enumerated() {
            let bucket = Int(assignments[position])
            let slot = bucketSize - filled[bucket] - 1
            filled[bucket] += 1
            let destination = (bucket * bucketSize + slot) * recordSize
            data.replaceSubrange(
                destination..<(destination + recordSize),
                with: records[offset..<(offset + recordSize)]
            )
        }
        return data
    }
}
