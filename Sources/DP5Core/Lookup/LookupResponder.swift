import Crypto
public import Foundation

/// A lookup server's answers for one epoch's database.
///
/// | reply | meaning |
/// | --- | --- |
/// | metadata file (30 bytes) | answer to `ff` for this epoch |
/// | `81 ‖ E ‖ answers` | answer to `fe` |
/// | `82 ‖ E ‖ data file` | answer to `fd` (only the header if the database is empty) |
/// | `83 ‖ E ‖ SHA-256(data file)` | answer to `fc` (an extension; the original answers `00`) |
/// | `00 ‖ E_server` | malformed request, unknown opcode, or `ff`/`fd` for another epoch |
/// | `80 ‖ E_server` | `fe` for another epoch, malformed queries, or an empty database |
///
/// A download for another epoch gets `00`, not the `80` the protocol document names: that is
/// what both eras of the original send (their check looks at the wrong byte), and what its
/// clients expect.
public struct LookupResponder: Sendable {
    /// Status byte of a general error reply.
    public static let errorStatus: UInt8 = 0x00
    /// Status byte of a PIR error reply.
    public static let pirErrorStatus: UInt8 = 0x80
    /// Status byte of a PIR answer.
    public static let pirAnswerStatus: UInt8 = 0x81
    /// Status byte of a download answer.
    public static let downloadStatus: UInt8 = 0x82
    /// Status byte of a data-file digest answer (not in the original).
    public static let digestStatus: UInt8 = 0x83

    /// The database's metadata.
    public let metadata: Metadata
    /// The database's buckets as PIR blocks.
    public let database: PIRDatabase
    /// SHA-256 of the data file.
    public let dataDigest: [UInt8]

    /// Creates a responder over a data file.
    ///
    /// - Throws: ``DP5Error/Code/malformedDatabase`` if `data` does not have the size the
    ///   metadata describes.
    public init(metadata: Metadata, data: Data) throws {
        guard data.count == metadata.dataFileSize else {
            throw DP5Error(
                .malformedDatabase,
                "data file of epoch \(metadata.epoch) has \(data.count) bytes, its metadata says \(metadata.dataFileSize)"
            )
        }
        self.metadata = metadata
        // Copied out of the (memory-mapped) file into huge-page memory: every PIR pass streams
        // all of it (see PIRDatabase.init(numberOfBlocks:blockSize:copying:)).
        self.database = try PIRDatabase(
            numberOfBlocks: Int(metadata.numberOfBuckets),
            blockSize: metadata.bucketBytes,
            copying: data
        )
        self.dataDigest = Array(SHA256.hash(data: database.bytes))
    }

    /// The epoch this responder serves.
    public var epoch: Epoch { metadata.epoch }

    /// Answers one request body.
    public func respond(to body: [UInt8]) -> LookupReply {
        guard let request = LookupRequest(rawRepresentation: body) else {
            return Self.errorReply(status: Self.errorStatus, serverEpoch: epoch)
        }
        return respond(to: request)
    }

    /// Answers one parsed request, computing PIR answers on the calling thread.
    public func respond(to request: LookupRequest) -> LookupReply {
        switch request {
        case .metadata(let requested):
            guard requested == epoch else { return Self.errorReply(status: Self.errorStatus, serverEpoch: epoch) }
            return LookupReply(header: metadata.rawRepresentation, body: Data())
        case .pir(let requested, let queries):
            guard let batch = pirBatch(epoch: requested, queries: queries) else {
                return Self.errorReply(status: Self.pirErrorStatus, serverEpoch: epoch)
            }
            return pirReply(PIRServer.answer(batch, database: database))
        case .download(let requested):
            guard requested == epoch else { return Self.errorReply(status: Self.errorStatus, serverEpoch: epoch) }
            return LookupReply(header: [Self.downloadStatus] + epoch.wireBytes, body: database.bytes)
        case .digest(let requested):
            guard requested == epoch else { return Self.errorReply(status: Self.errorStatus, serverEpoch: epoch) }
            return LookupReply(header: [Self.digestStatus] + epoch.wireBytes + dataDigest, body: Data())
        }
    }

    /// Answers one parsed request, handing PIR queries to `answer` (a ``PIRCoalescer``'s, say,
    /// so they share a pass over the database with other clients' queries).
    public func respond(
        to request: LookupRequest,
        answeringPIRWith answer: (PIRQueryBatch) async -> [UInt8]
    ) async -> LookupReply {
        guard case .pir(let requested, let queries) = request else { return respond(to: request) }
        guard let batch = pirBatch(epoch: requested, queries: queries) else {
            return Self.errorReply(status: Self.pirErrorStatus, serverEpoch: epoch)
        }
        return pirReply(await answer(batch))
    }

    /// The queries of a PIR request, or `nil` if it is for another epoch, malformed, against an
    /// empty database, or asks for more than ``maximumQueriesPerRequest`` blocks.
    private func pirBatch(epoch requested: Epoch, queries: ArraySlice<UInt8>) -> PIRQueryBatch? {
        guard requested == epoch, metadata.bucketSize > 0 else { return nil }
        guard let batch = try? PIRQueryBatch(percyWire: queries, numberOfBlocks: database.numberOfBlocks),
            batch.numberOfQueries <= Self.maximumQueriesPerRequest
        else { return nil }
        return batch
    }

    /// The most PIR queries one request may carry: clients send 1 or 100, and the reply grows
    /// with the count (a bucket per query), so a larger count is refused with `80`.
    public static let maximumQueriesPerRequest = DP5Parameters.pirQueryCounts.multiple

    /// The largest request body this database can need: a PIR request of
    /// ``maximumQueriesPerRequest`` queries.
    public var maximumRequestBytes: Int { 5 + 2 + Self.maximumQueriesPerRequest * Int(metadata.numberOfBuckets) }

    private func pirReply(_ answers: [UInt8]) -> LookupReply {
        LookupReply(header: [Self.pirAnswerStatus] + epoch.wireBytes, answers: answers)
    }

    /// The error reply `status ‖ serverEpoch`, also for servers that have no database to answer from.
    public static func errorReply(status: UInt8, serverEpoch: Epoch) -> LookupReply {
        LookupReply(header: [status] + serverEpoch.wireBytes, body: Data())
    }
}

/// A lookup server's reply: a short header and a body that may be a whole (mapped) data file or
/// the answers as a PIR pass wrote them, so a server can send it without copying.
public struct LookupReply: Sendable {
    /// The rest of a reply after its header.
    public enum Body: Sendable {
        /// PIR answers, the array the pass wrote.
        case answers([UInt8])
        /// Other bytes: a (mapped) data file, or nothing.
        case data(Data)
    }

    /// The first bytes of the reply.
    public let header: [UInt8]
    /// The rest of the reply.
    public let body: Body

    /// A reply whose body is other bytes than PIR answers (or none).
    public init(header: [UInt8], body: Data) {
        self.header = header
        self.body = .data(body)
    }

    /// A reply carrying PIR answers.
    public init(header: [UInt8], answers: [UInt8]) {
        self.header = header
        self.body = .answers(answers)
    }

    /// The whole reply as one array.
    public var bytes: [UInt8] {
        switch body {
        case .answers(let answers): header + answers
        case .data(let data): header + Array(data)
        }
    }
}
