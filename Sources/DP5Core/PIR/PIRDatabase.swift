import CGF256
public import Foundation

/// A PIR database: `numberOfBlocks` blocks of `blockSize` bytes, stored back to back.
///
/// In DP5 a block is one bucket of the epoch's data file. The bytes are held as `Data`, so a
/// server can hand in a memory-mapped file and every request reads the same pages; nothing is
/// copied per request.
public struct PIRDatabase: Sendable {
    /// Number of blocks (DP5: `num_buckets`).
    public let numberOfBlocks: Int
    /// Bytes per block (DP5: `bucket_size · (10 + dataEncSize)`).
    public let blockSize: Int
    /// The blocks, `numberOfBlocks · blockSize` bytes.
    public let bytes: Data

    /// Creates a database and checks that `bytes` holds exactly the given blocks.
    ///
    /// - Throws: ``DP5Error/Code/malformedDatabase`` if the sizes do not match.
    public init(numberOfBlocks: Int, blockSize: Int, bytes: Data) throws {
        let (expected, overflow) = numberOfBlocks.multipliedReportingOverflow(by: blockSize)
        guard numberOfBlocks >= 0, blockSize >= 0, !overflow, expected == bytes.count else {
            throw DP5Error(
                .malformedDatabase,
                "database has \(bytes.count) bytes, expected \(numberOfBlocks) blocks of \(blockSize) bytes"
            )
        }
        self.numberOfBlocks = numberOfBlocks
        self.blockSize = blockSize
        self.bytes = bytes
    }

    /// Creates a database over a copy of `bytes` in memory laid out for passes (see
    /// ``streamingStorage(count:initialize:)``): over a memory-mapped data file's 4 KiB
    /// page-cache pages a pass walks 65,536 pages per 256 MiB, and the hardware prefetchers stop
    /// at every one of their boundaries; on huge pages the kernels measured 5–15 % faster on one
    /// core (AMD Zen 4, 1 and 8 queries).
    ///
    /// - Throws: ``DP5Error/Code/malformedDatabase`` if the sizes do not match.
    public init(numberOfBlocks: Int, blockSize: Int, copying bytes: Data) throws {
        let copy = Self.streamingStorage(count: bytes.count) { destination in
            bytes.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
        try self.init(numberOfBlocks: numberOfBlocks, blockSize: blockSize, bytes: copy)
    }

    /// `count` bytes, zeroed and then filled by `initialize`, aligned to 2 MiB and advised onto
    /// transparent huge pages where the system has them (Linux `madvise`; with THP set to
    /// `never`, or elsewhere, ordinary pages). Freed when the last `Data` sharing them goes.
    public static func streamingStorage(count: Int, initialize: (UnsafeMutableRawBufferPointer) -> Void) -> Data {
        guard count > 0, let pointer = cgf256_database_alloc(count) else {
            var data = Data(count: count)
            data.withUnsafeMutableBytes(initialize)
            return data
        }
        initialize(UnsafeMutableRawBufferPointer(start: pointer, count: count))
        return Data(
            bytesNoCopy: pointer,
            count: count,
            deallocator: .custom { pointer, count in cgf256_database_free(pointer, count) }
        )
    }

    /// Total size in bytes.
    public var count: Int { bytes.count }
}

/// The PIR queries of one request, as a lookup server receives them.
///
/// Wire form (Percy++ 1.0.0 as patched for DP5): `uint16 little-endian query count`, then for
/// each query one coefficient byte per block, in block order. There is no header or parameter
/// exchange; the server knows the block count from its database.
public struct PIRQueryBatch: Sendable, Hashable {
    /// Number of blocks each query addresses.
    public let numberOfBlocks: Int
    /// Number of queries in the batch.
    public let numberOfQueries: Int
    /// Query-major coefficients, as they lie in the request body they were parsed from (a
    /// server answers from them without copying them out).
    let coefficientBytes: ArraySlice<UInt8>

    /// Query-major coefficients: query `q`'s coefficient for block `j` is at `q · numberOfBlocks + j`.
    /// A copy made on each call: read it once, not per coefficient.
    public var coefficients: [UInt8] { Array(coefficientBytes) }

    /// Creates a batch from query-major coefficients.
    public init(numberOfBlocks: Int, coefficients: [UInt8]) {
        precondition(numberOfBlocks > 0 || coefficients.isEmpty)
        self.numberOfBlocks = numberOfBlocks
        self.numberOfQueries = numberOfBlocks == 0 ? 0 : coefficients.count / numberOfBlocks
        self.coefficientBytes = coefficients[...]
    }

    /// Parses the Percy++ wire form for a database of `numberOfBlocks` blocks.
    ///
    /// - Throws: ``DP5Error/Code/lookupRefused`` if the body is truncated or too long, or if it
    ///   carries queries for an empty database.
    public init(percyWire bytes: ArraySlice<UInt8>, numberOfBlocks: Int) throws {
        guard bytes.count >= 2 else {
            throw DP5Error(.lookupRefused, "PIR query is shorter than its 2-byte count")
        }
        let start = bytes.startIndex
        let queries = Int(bytes[start]) | Int(bytes[start + 1]) << 8
        guard queries == 0 || numberOfBlocks > 0 else {
            throw DP5Error(.lookupRefused, "PIR query against an empty database")
        }
        guard bytes.count - 2 == queries * numberOfBlocks else {
            throw DP5Error(
                .lookupRefused,
                "PIR query has \(bytes.count - 2) coefficient bytes, expected \(queries) × \(numberOfBlocks)"
            )
        }
        self.numberOfBlocks = numberOfBlocks
        self.numberOfQueries = queries
        self.coefficientBytes = bytes[(start + 2)...]
    }

    /// The Percy++ wire form.
    public var percyWire: [UInt8] {
        var bytes: [UInt8] = [
            UInt8(truncatingIfNeeded: numberOfQueries), UInt8(truncatingIfNeeded: numberOfQueries >> 8),
        ]
        bytes.append(contentsOf: coefficientBytes)
        return bytes
    }
}
