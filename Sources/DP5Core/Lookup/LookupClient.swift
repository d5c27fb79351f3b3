/// Looks up buddies' presence for one user.
///
/// A lookup takes two round trips: a metadata request to every lookup server (they must agree),
/// then either PIR queries to all of them or a download from one, checked against the others'
/// digests of the data file, whichever moves fewer bytes.
///
/// ```swift
/// let client = LookupClient(privateKey: key)
/// let metadata = try LookupClient.metadata(fromReply: send(LookupClient.metadataRequest(epoch: e)), epoch: e)
/// let lookup = try client.prepareLookup(buddies: buddies, metadata: metadata, parameters: parameters)
/// let replies = lookup.requests.enumerated().map { server, body in body.map { send($0, to: server) } }
/// let result = try lookup.complete(replies: replies)
/// ```
public struct LookupClient: Sendable {
    /// The looking user's key.
    public let privateKey: DHPrivateKey

    /// Creates a lookup client for one user.
    public init(privateKey: DHPrivateKey) {
        self.privateKey = privateKey
    }

    /// The metadata request for `epoch`: `ff ‖ E`.
    public static func metadataRequest(epoch: Epoch) -> [UInt8] {
        LookupRequest.metadata(epoch).rawRepresentation
    }

    /// Parses a lookup server's reply to a metadata request for `epoch`.
    ///
    /// - Throws: ``DP5Error/Code/metadataRefused`` (original code 0x01) for an error reply,
    ///   ``DP5Error/Code/malformedMetadata`` (0x02), ``DP5Error/Code/metadataEpochMismatch`` (0x05).
    public static func metadata(fromReply reply: [UInt8], epoch: Epoch) throws -> Metadata {
        if reply.first == LookupResponder.errorStatus {
            let serverEpoch = Epoch(wireBytes: reply.dropFirst()).map { " (server is at epoch \($0))" } ?? ""
            throw DP5Error(
                .metadataRefused,
                "lookup server has no database for epoch \(epoch)\(serverEpoch)",
                originalCode: 0x01
            )
        }
        let metadata = try Metadata(rawRepresentation: reply)
        guard metadata.epoch == epoch else {
            throw DP5Error(
                .metadataEpochMismatch,
                "asked for the metadata of epoch \(epoch), got epoch \(metadata.epoch)",
                originalCode: 0x05
            )
        }
        return metadata
    }

    /// Plans a lookup of `buddies` in the database `metadata` describes.
    ///
    /// Random bytes are drawn for the PIR queries (see ``PIRQuery``) or, for a download, 4 bytes
    /// to choose the server.
    ///
    /// - Throws: ``DP5Error/Code/tooManyBuddies`` (original code 0x01) for more than 100 buddies.
    public func prepareLookup(
        buddies: [DHPublicKey],
        metadata: Metadata,
        parameters: LookupParameters,
        using generator: inout some RandomNumberGenerator
    ) throws -> PreparedLookup {
        guard buddies.count <= DP5Parameters.maximumBuddies else {
            throw DP5Error(
                .tooManyBuddies,
                "\(buddies.count) buddies, at most \(DP5Parameters.maximumBuddies)",
                originalCode: 0x01
            )
        }
        let targets = buddies.map { target(for: $0, metadata: metadata) }
        return Self.plan(
            targets: targets,
            buddies: buddies,
            combinedBuddies: [],
            metadata: metadata,
            parameters: parameters,
            using: &generator
        )
    }

    /// The requests that fetch the buckets `targets` need: PIR or a download, whichever moves fewer bytes.
    static func plan(
        targets: [LookupTarget?],
        buddies: [DHPublicKey],
        combinedBuddies: [BLSPublicKey],
        metadata: Metadata,
        parameters: LookupParameters,
        using generator: inout some RandomNumberGenerator
    ) -> PreparedLookup {
        let servers = parameters.numberOfServers
        let epoch = metadata.epoch

        var distinct: [Int] = []
        for bucket in targets.compactMap(\.?.bucket) where !distinct.contains(bucket) { distinct.append(bucket) }
        let queries = distinct.count <= 1 ? DP5Parameters.pirQueryCounts.single : DP5Parameters.pirQueryCounts.multiple
        let pirBytes = servers * (Int(metadata.numberOfBuckets) + metadata.bucketBytes) * queries
        let downloadBytes = metadata.dataFileSize

        if downloadBytes == 0 {
            // An epoch with no registrations: everyone is offline, and there is nothing to ask.
            return PreparedLookup(
                epoch: epoch,
                method: .none,
                targets: targets,
                buddies: buddies,
                combinedBuddies: combinedBuddies,
                metadata: metadata,
                requests: Array(repeating: nil, count: servers),
                pirQuery: nil
            )
        }
        if pirBytes < downloadBytes {
            let blocks = distinct + Array(repeating: 0, count: queries - distinct.count)
            let query = PIRQuery(
                blocks: blocks,
                numberOfBlocks: Int(metadata.numberOfBuckets),
                blockSize: metadata.bucketBytes,
                parameters: parameters,
                using: &generator
            )
            let requests = query.serverQueries.map { LookupRequest.pir(epoch, queries: $0[...]).rawRepresentation }
            return PreparedLookup(
                epoch: epoch,
                method: .pir,
                targets: targets,
                buddies: buddies,
                combinedBuddies: combinedBuddies,
                metadata: metadata,
                requests: requests,
                pirQuery: query
            )
        }
        var random = RandomBytes()
        let chosen = Int(random.nextUInt32(using: &generator) % UInt32(servers))
        var requests = [[UInt8]?](repeating: nil, count: servers)
        requests[chosen] = LookupRequest.download(epoch).rawRepresentation
        return PreparedLookup(
            epoch: epoch,
            method: .download,
            targets: targets,
            buddies: buddies,
            combinedBuddies: combinedBuddies,
            metadata: metadata,
            requests: requests,
            pirQuery: nil
        )
    }

    /// Plans a lookup, drawing randomness from a cryptographically secure generator.
    public func prepareLookup(
        buddies: [DHPublicKey],
        metadata: Metadata,
        parameters: LookupParameters
    ) throws -> PreparedLookup {
        var generator = SecureRandomNumberGenerator()
        return try prepareLookup(buddies: buddies, metadata: metadata, parameters: parameters, using: &generator)
    }

    /// Where a buddy's record would be, and how to open it; `nil` if the buddy's key gives no
    /// Diffie-Hellman secret (such a buddy cannot have registered, so is offline).
    private func target(for buddy: DHPublicKey, metadata: Metadata) -> LookupTarget? {
        guard let secret = try? privateKey.sharedSecret(with: buddy) else { return nil }
        let keys = KeyDerivation.pairwiseKeys(epoch: metadata.epoch, registrant: buddy, sharedSecret: secret)
        let hashedKey = KeyDerivation.hashedKey(epoch: metadata.epoch, sharedKey: keys.sharedKey)
        return LookupTarget(
            hashedKey: hashedKey,
            dataKey: keys.dataKey,
            aad: metadata.epoch.wireBytes + privateKey.publicKey.rawRepresentation + keys.sharedKey,
            bucket: metadata.bucket(forHashedKey: hashedKey)
        )
    }
}

/// What the client needs to find and open one buddy's record.
struct LookupTarget: Sendable {
    let hashedKey: [UInt8]
    let dataKey: [UInt8]
    let aad: [UInt8]
    let bucket: Int
}

/// What a lookup found, target by target, before it is tied to the buddies' keys.
struct LookupRecords: Sendable {
    /// Each target's opened data, or `nil` (offline).
    var data: [[UInt8]?]
    var faultyServers: [Int]
    var isVerified: Bool
}

/// How a lookup fetches the buckets it needs.
public enum LookupMethod: Sendable, Hashable {
    /// PIR queries to every lookup server.
    case pir
    /// The whole data file from one lookup server.
    case download
    /// Nothing to fetch: the epoch's database is empty.
    case none
}

/// A planned lookup: the request bodies to send, and how to read the replies.
public struct PreparedLookup: Sendable {
    /// The epoch of the database being searched.
    public let epoch: Epoch
    /// PIR, download, or nothing to fetch.
    public let method: LookupMethod
    let targets: [LookupTarget?]
    let buddies: [DHPublicKey]
    /// The buddies of a combined-mode lookup (then ``buddies`` is empty).
    let combinedBuddies: [BLSPublicKey]
    let metadata: Metadata
    /// Per lookup server, the body to POST to `/lookup/<E>/`, or `nil` if that server is not asked.
    public let requests: [[UInt8]?]
    let pirQuery: PIRQuery?

    /// Reads the servers' replies.
    ///
    /// - Parameter replies: per server, its reply body, or `nil` if it was not asked or did not
    ///   answer.
    /// - Returns: each buddy's presence, in the order the buddies were given, and which servers
    ///   sent bad answers. A record whose data fails to decrypt counts as "not online" (the
    ///   protocol document's rule), not as a failed lookup.
    /// - Throws: ``DP5Error`` if too few servers answered usefully to decide.
    public func complete(replies: [[UInt8]?]) throws -> LookupResult {
        result(try completeRecords(replies: replies))
    }

    /// Reads the servers' replies to a combined-mode lookup.
    public func completeCombined(replies: [[UInt8]?]) throws -> CombinedLookupResult {
        combinedResult(try completeRecords(replies: replies))
    }

    func result(_ found: LookupRecords) -> LookupResult {
        let presences = zip(buddies, found.data).map { BuddyPresence(publicKey: $0, data: $1) }
        return LookupResult(
            method: method,
            presences: presences,
            faultyServers: found.faultyServers,
            isVerified: found.isVerified
        )
    }

    func combinedResult(_ found: LookupRecords) -> CombinedLookupResult {
        let presences = zip(combinedBuddies, found.data).map { CombinedBuddyPresence(publicKey: $0, data: $1) }
        return CombinedLookupResult(
            method: method,
            presences: presences,
            faultyServers: found.faultyServers,
            isVerified: found.isVerified
        )
    }

    /// Each target's opened data (in target order), the faulty servers, and whether the answer is verified.
    func completeRecords(replies: [[UInt8]?]) throws -> LookupRecords {
        precondition(replies.count == requests.count, "one reply slot per lookup server")
        switch method {
        case .none:
            return LookupRecords(data: targets.map { _ in nil }, faultyServers: [], isVerified: false)
        case .download:
            return try completeDownload(replies: replies)
        case .pir:
            return try completePIR(replies: replies)
        }
    }

    private func completeDownload(replies: [[UInt8]?]) throws -> LookupRecords {
        var firstError: DP5Error?
        var faulty: [Int] = []
        // Any server's copy of the data file will do: a client whose chosen server fails asks another.
        for (server, reply) in replies.enumerated() {
            guard let reply else { continue }
            do {
                let body = try payload(of: reply, status: LookupResponder.downloadStatus, server: server)
                guard body.count == metadata.dataFileSize else {
                    throw DP5Error(
                        .malformedLookupReply,
                        "download has \(body.count) bytes, the metadata says \(metadata.dataFileSize)",
                        servers: [server],
                        originalCode: 0x15
                    )
                }
                // The buckets this lookup reads must be real ones; a doctored file rarely passes.
                for bucket in Set(targets.compactMap(\.?.bucket)) {
                    let start = body.startIndex + bucket * metadata.bucketBytes
                    guard isPlausible(body[start..<(start + metadata.bucketBytes)], bucket: bucket) else {
                        throw DP5Error(
                            .malformedLookupReply,
                            "the downloaded data file's bucket \(bucket) holds records that do not belong there",
                            servers: [server]
                        )
                    }
                }
                let data = targets.map { target in
                    target.flatMap { open($0, in: body, bucketStart: $0.bucket * metadata.bucketBytes) }
                }
                return LookupRecords(data: data, faultyServers: faulty, isVerified: false)
            } catch let error as DP5Error {
                faulty.append(server)
                firstError = firstError ?? error
            }
        }
        throw firstError ?? DP5Error(.notEnoughReplies, "no lookup server answered the download", originalCode: 0x16)
    }

    private func completePIR(replies: [[UInt8]?]) throws -> LookupRecords {
        let query = pirQuery!
        var refused: [Int] = []
        var answers: [[UInt8]?] = []
        for (server, reply) in replies.enumerated() {
            guard let reply else {
                answers.append(nil)
                continue
            }
            do {
                answers.append(Array(try payload(of: reply, status: LookupResponder.pirAnswerStatus, server: server)))
            } catch {
                refused.append(server)
                answers.append(nil)
            }
        }
        let decoded: PIRDecodedBlocks
        do {
            decoded = try query.decode(replies: answers) { blocks in
                for (index, block) in blocks.enumerated() {
                    let bucket = query.requestedBlocks[index]
                    // Padding queries repeat bucket 0; an identical copy needs no second check.
                    if let first = query.requestedBlocks.firstIndex(of: bucket), first < index, blocks[first] == block {
                        continue
                    }
                    guard isPlausible(block[...], bucket: bucket) else { return false }
                }
                return true
            }
        } catch let error as DP5Error {
            throw DP5Error(
                error.code,
                error.reason,
                servers: (error.servers + refused).sorted(),
                originalCode: error.originalCode
            )
        }
        let data = targets.map { target -> [UInt8]? in
            guard let target, let index = query.requestedBlocks.firstIndex(of: target.bucket) else { return nil }
            return open(target, in: decoded.blocks[index][...], bucketStart: 0)
        }
        return LookupRecords(
            data: data,
            faultyServers: (decoded.faultyServers + refused).sorted(),
            isVerified: decoded.isVerified
        )
    }

    /// Whether `bytes` can be bucket `bucket` of this epoch's database: every record belongs
    /// there under the PRF key, and a record carrying one of this lookup's hashed keys decrypts
    /// (an honest database holds no such record that fails).
    func isPlausible(_ bytes: ArraySlice<UInt8>, bucket: Int) -> Bool {
        guard metadata.isPlausibleBucket(bytes, index: bucket) else { return false }
        for target in targets.compactMap({ $0 }) where target.bucket == bucket {
            let recordSize = metadata.recordSize
            for recordStart in stride(from: bytes.startIndex, to: bytes.endIndex, by: recordSize) {
                let keyEnd = recordStart + DP5Parameters.hashedKeyBytes
                guard bytes[recordStart..<keyEnd].elementsEqual(target.hashedKey) else { continue }
                if DataCipher.open(
                    bytes[keyEnd..<(recordStart + recordSize)],
                    key: target.dataKey,
                    authenticating: target.aad
                ) == nil {
                    return false
                }
            }
        }
        return true
    }

    /// The largest reply accepted from each server for its request: what the metadata implies.
    public var replyLimits: [Int] {
        requests.map { request in
            guard let request else { return 0 }
            switch request.first {
            case LookupRequest.pirOpcode: return 5 + (pirQuery?.requestedBlocks.count ?? 0) * metadata.bucketBytes
            default: return 5 + metadata.dataFileSize
            }
        }
    }

    /// The reply without its `status ‖ E` header, after checking both.
    private func payload(of reply: [UInt8], status: UInt8, server: Int) throws -> ArraySlice<UInt8> {
        guard reply.count >= 5, let replyEpoch = Epoch(wireBytes: reply[1...]) else {
            throw DP5Error(
                .malformedLookupReply,
                "lookup reply of \(reply.count) bytes has no header",
                servers: [server],
                originalCode: 0x12
            )
        }
        guard reply[0] == status else {
            throw DP5Error(
                .lookupRefused,
                "lookup server answered status 0x\([reply[0]].hexString) (server at epoch \(replyEpoch))",
                servers: [server],
                originalCode: 0x13
            )
        }
        guard replyEpoch == epoch else {
            throw DP5Error(
                .lookupEpochMismatch,
                "lookup reply is for epoch \(replyEpoch), not \(epoch)",
                servers: [server],
                originalCode: 0x14
            )
        }
        return reply[5...]
    }

    /// Scans one bucket for the target's hashed key and decrypts the first record that opens.
    private func open(_ target: LookupTarget, in bytes: ArraySlice<UInt8>, bucketStart: Int) -> [UInt8]? {
        let recordSize = metadata.recordSize
        let start = bytes.startIndex + bucketStart
        for recordStart in stride(from: start, to: start + metadata.bucketBytes, by: recordSize) {
            let keyEnd = recordStart + DP5Parameters.hashedKeyBytes
            guard bytes[recordStart..<keyEnd].elementsEqual(target.hashedKey) else { continue }
            if let data = DataCipher.open(
                bytes[keyEnd..<(recordStart + recordSize)],
                key: target.dataKey,
                authenticating: target.aad
            ) {
                return data
            }
        }
        return nil
    }
}

/// The outcome of one lookup.
public struct LookupResult: Sendable, Hashable {
    /// How the buckets were fetched.
    public let method: LookupMethod
    /// Each buddy's presence, in the order the buddies were given.
    public let presences: [BuddyPresence]
    /// Lookup servers whose replies were refused, malformed or inconsistent with the result.
    public var faultyServers: [Int]
    /// Whether a server beyond those the answer depends on confirmed it: a PIR answer beyond the
    /// t + 1 needed, or another server's digest of a downloaded data file. An unverified answer
    /// may come from a lying server that nothing could catch.
    public var isVerified: Bool

    /// Creates a result.
    public init(method: LookupMethod, presences: [BuddyPresence], faultyServers: [Int], isVerified: Bool) {
        self.method = method
        self.presences = presences
        self.faultyServers = faultyServers
        self.isVerified = isVerified
    }
}

/// Whether one buddy is online this epoch, and what they told the looking user.
public struct BuddyPresence: Sendable, Hashable {
    /// The buddy.
    public let publicKey: DHPublicKey
    /// The data the buddy registered for the looking user, or `nil` if the buddy is offline.
    public let data: [UInt8]?

    /// Whether the buddy registered for the looking user this epoch.
    public var isOnline: Bool { data != nil }
}
