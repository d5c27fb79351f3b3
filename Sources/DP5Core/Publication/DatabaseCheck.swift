public import Foundation

extension Metadata {
    /// Whether `bytes` can be bucket `index` of this database: `bucketBytes` long, every record
    /// either all-zero padding or one whose hashed key the PRF maps to `index`.
    ///
    /// A reconstruction from lying PIR answers, or a bucket of a doctored data file, fails this
    /// with overwhelming probability: each record's key would have to land in the right one of
    /// `numberOfBuckets` buckets by chance.
    public func isPlausibleBucket(_ bytes: some Collection<UInt8>, index: Int) -> Bool {
        guard bytes.count == bucketBytes else { return false }
        let bucket = Array(bytes)
        for start in stride(from: 0, to: bucket.count, by: recordSize) {
            let record = bucket[start..<(start + recordSize)]
            if record.allSatisfy({ $0 == 0 }) { continue }
            guard self.bucket(forHashedKey: record.prefix(DP5Parameters.hashedKeyBytes)) == index else { return false }
        }
        return true
    }
}

extension EpochDatabase {
    /// Checks a data file against its metadata as a lookup server does before it serves an
    /// epoch: the size, every record in the bucket the PRF key puts it in, the bucket size equal
    /// to the fullest bucket, and the bucket count the record count gives
    /// (`ceil(sqrt(max(n, 1) · recordSize))`).
    ///
    /// - Throws: ``DP5Error/Code/malformedDatabase`` naming the first check that fails.
    public static func verify(metadata: Metadata, data: some ContiguousBytes) throws {
        func fail(_ reason: String) -> DP5Error {
            DP5Error(.malformedDatabase, "the database of epoch \(metadata.epoch) fails its checks: \(reason)")
        }
        let recordSize = metadata.recordSize
        let bucketSize = Int(metadata.bucketSize)
        let (records, fullest): (Int, Int) = try data.withUnsafeBytes { raw in
            guard raw.count == metadata.dataFileSize else {
                throw fail("the data file has \(raw.count) bytes, the metadata says \(metadata.dataFileSize)")
            }
            var records = 0
            var fullest = 0
            for bucket in 0..<Int(metadata.numberOfBuckets) where bucketSize > 0 {
                var load = 0
                for slot in 0..<bucketSize {
                    let start = (bucket * bucketSize + slot) * recordSize
                    let record = UnsafeRawBufferPointer(rebasing: raw[start..<(start + recordSize)])
                    if record.allSatisfy({ $0 == 0 }) { continue }
                    guard metadata.bucket(forHashedKey: record.prefix(DP5Parameters.hashedKeyBytes)) == bucket else {
                        throw fail(
                            "a record in bucket \(bucket) belongs in bucket \(metadata.bucket(forHashedKey: record.prefix(DP5Parameters.hashedKeyBytes))) under the PRF key"
                        )
                    }
                    load += 1
                }
                records += load
                fullest = max(fullest, load)
            }
            return (records, fullest)
        }
        guard fullest == bucketSize else {
            throw fail("the bucket size is \(bucketSize) but the fullest bucket holds \(fullest) records")
        }
        let expectedBuckets = numberOfBuckets(records: records, recordSize: recordSize)
        guard UInt64(metadata.numberOfBuckets) == expectedBuckets else {
            throw fail(
                "\(records) records make \(expectedBuckets) buckets, the metadata says \(metadata.numberOfBuckets)"
            )
        }
    }
}
