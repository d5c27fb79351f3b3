import Crypto

extension LookupClient {
    /// Sends one request body to lookup server `server` and returns its reply body, accepting
    /// at most `replyLimit` bytes.
    public typealias Send = @Sendable (_ server: Int, _ body: [UInt8], _ replyLimit: Int) async throws -> [UInt8]

    /// Runs a whole lookup over `send`.
    ///
    /// 1. The metadata is asked of every lookup server; those that answer must send the same
    ///    bytes (a server reporting, say, an empty database would otherwise make every buddy look
    ///    offline), else ``DP5Error/Code/inconsistentMetadata`` names the servers out of line.
    /// 2. PIR requests then go to every server that answered; a server whose `send` throws counts
    ///    as silent, and the lookup succeeds while t + 1 servers answer. Disagreeing answers are
    ///    decoded as ``PIRQuery/decode(replies:isPlausible:)`` describes, naming the liars.
    /// 3. A download goes to one random server (the next one if it fails) while every other
    ///    server is asked for the SHA-256 of its data file (`fc`, an extension original servers
    ///    answer with `00`). The downloaded file must match the digest most servers report; a
    ///    server whose file or digest is out of line is named.
    ///
    /// Every reply is bounded by what the metadata implies.
    ///
    /// - Parameter configuration: if given, the servers' database must match it
    ///   (``DP5Error/Code/configurationMismatch`` otherwise).
    public func lookup(
        buddies: [DHPublicKey],
        epoch: Epoch,
        parameters: LookupParameters,
        expecting configuration: DP5Configuration? = nil,
        send: @escaping Send
    ) async throws -> LookupResult {
        let (prepared, records) = try await Self.exchange(
            epoch: epoch,
            parameters: parameters,
            expecting: configuration,
            send: send
        ) { metadata in
            try prepareLookup(buddies: buddies, metadata: metadata, parameters: parameters)
        }
        return prepared.result(records)
    }

    /// The metadata, requests and replies of one lookup, for either mode: `prepare` turns the
    /// agreed metadata into the planned lookup.
    static func exchange(
        epoch: Epoch,
        parameters: LookupParameters,
        expecting configuration: DP5Configuration?,
        send: @escaping Send,
        prepare: (Metadata) throws -> PreparedLookup
    ) async throws -> (PreparedLookup, LookupRecords) {
        let servers = parameters.numberOfServers
        let (metadata, answering, metadataVerified) = try await Self.agreedMetadata(
            epoch: epoch,
            servers: servers,
            send: send
        )
        try configuration.map { try metadata.check(matches: $0) }
        let prepared = try prepare(metadata)
        switch prepared.method {
        case .none:
            var records = try prepared.completeRecords(replies: Array(repeating: nil, count: servers))
            records.isVerified = metadataVerified
            return (prepared, records)
        case .download:
            return (prepared, try await download(prepared, answering: answering, send: send))
        case .pir:
            let limits = prepared.replyLimits
            let replies = await withTaskGroup(of: (Int, [UInt8]?).self) { group in
                for (server, request) in prepared.requests.enumerated() where answering.contains(server) {
                    guard let request else { continue }
                    group.addTask { (server, try? await send(server, request, limits[server])) }
                }
                var replies = [[UInt8]?](repeating: nil, count: servers)
                for await (server, reply) in group { replies[server] = reply }
                return replies
            }
            return (prepared, try prepared.completeRecords(replies: replies))
        }
    }

    /// The metadata every answering server agrees on, which servers answered, and whether more
    /// than one did.
    static func agreedMetadata(
        epoch: Epoch,
        servers: Int,
        send: @escaping Send
    ) async throws -> (Metadata, Set<Int>, Bool) {
        let request = metadataRequest(epoch: epoch)
        let outcomes = await withTaskGroup(of: (Int, Result<Metadata, any Error>).self) { group in
            for server in 0..<servers {
                group.addTask {
                    do {
                        return (
                            server,
                            .success(
                                try metadata(
                                    fromReply: try await send(server, request, Metadata.byteCount),
                                    epoch: epoch
                                )
                            )
                        )
                    } catch {
                        return (server, .failure(error))
                    }
                }
            }
            var outcomes: [Int: Result<Metadata, any Error>] = [:]
            for await (server, outcome) in group { outcomes[server] = outcome }
            return outcomes
        }
        var answers: [Int: Metadata] = [:]
        var firstFailure: (server: Int, error: any Error)?
        for server in 0..<servers {
            switch outcomes[server]! {
            case .success(let metadata): answers[server] = metadata
            case .failure(let error): firstFailure = firstFailure ?? (server, error)
            }
        }
        guard !answers.isEmpty else {
            let (server, error) = firstFailure!
            if let error = error as? DP5Error {
                throw DP5Error(error.code, error.reason, servers: [server], originalCode: error.originalCode)
            }
            throw error
        }
        let groups = Dictionary(grouping: answers.keys.sorted(), by: { answers[$0]! })
        guard groups.count == 1, let agreed = groups.first else {
            let ranked = groups.sorted {
                $0.value.count > $1.value.count || ($0.value.count == $1.value.count && $0.value[0] < $1.value[0])
            }
            let described = ranked.map { metadata, members in
                "servers \(members.map(String.init).joined(separator: ", ")) report \(metadata.numberOfBuckets) buckets of \(metadata.bucketSize) records, PRF key \(metadata.prfKey.hexString)"
            }.joined(separator: "; ")
            // The servers outside the largest group are the likely liars; with a tie, all are suspect.
            let suspects =
                ranked.count > 1 && ranked[0].value.count > ranked[1].value.count
                ? ranked.dropFirst().flatMap(\.value).sorted() : answers.keys.sorted()
            throw DP5Error(
                .inconsistentMetadata,
                "lookup servers disagree on the metadata of epoch \(epoch): \(described)",
                servers: suspects
            )
        }
        return (agreed.key, Set(agreed.value), agreed.value.count > 1)
    }

    /// The download path: the file from one server, checked against the digests of the others.
    private static func download(
        _ prepared: PreparedLookup,
        answering: Set<Int>,
        send: @escaping Send
    ) async throws -> LookupRecords {
        let servers = prepared.requests.count
        guard let request = prepared.requests.first(where: { $0 != nil }) ?? nil,
            let chosen = prepared.requests.firstIndex(where: { $0 != nil })
        else { return try prepared.completeRecords(replies: Array(repeating: nil, count: servers)) }
        let limit = prepared.replyLimits[chosen]
        let digestRequest = LookupRequest.digest(prepared.epoch).rawRepresentation
        let epoch = prepared.epoch

        // Each server's claimed digest (nil: it does not support the extension or did not answer).
        async let claimed: [Int: [UInt8]] = withTaskGroup(of: (Int, [UInt8]?).self) { group in
            for server in answering {
                group.addTask {
                    (
                        server,
                        (try? await send(server, digestRequest, 5 + 32)).flatMap {
                            Self.digest(fromReply: $0, epoch: epoch)
                        }
                    )
                }
            }
            var digests: [Int: [UInt8]] = [:]
            for await (server, digest) in group { if let digest { digests[server] = digest } }
            return digests
        }
        var order = (0..<servers).map { (chosen + $0) % servers }.filter { answering.contains($0) }
        var faulty = Set<Int>()
        var lastFailure: (any Error)?
        var downloaded: [Int: [UInt8]] = [:]
        var index = 0
        while index < order.count {
            let server = order[index]
            index += 1
            var replies = [[UInt8]?](repeating: nil, count: servers)
            let result: LookupRecords
            let reply: [UInt8]
            do {
                reply = try await send(server, request, limit)
                replies[server] = reply
                result = try prepared.completeRecords(replies: replies)
            } catch {
                if let error = error as? DP5Error, !error.servers.isEmpty { faulty.formUnion(error.servers) }
                lastFailure = error
                continue
            }
            let digest = Array(SHA256.hash(data: reply.dropFirst(5)))
            downloaded[server] = digest
            let digests = await claimed
            if let claim = digests[server], claim != digest {
                // Its file is not the file it claims to hold: it lies outright.
                faulty.insert(server)
                continue
            }
            // One vote per server not caught lying: the digest it claims, or for a server whose
            // file is at hand, the file's own digest.
            var votes = digests
            for (holder, actual) in downloaded { votes[holder] = actual }
            for liar in faulty { votes[liar] = nil }
            let tally = Dictionary(grouping: votes.keys, by: { votes[$0]! })
            guard votes.count > 1 else {
                // Nobody else vouches (original servers, or the others silent): unchecked.
                return LookupRecords(data: result.data, faultyServers: faulty.sorted(), isVerified: false)
            }
            guard let winner = tally.first(where: { 2 * $0.value.count > votes.count }) else {
                throw DP5Error(
                    .inconsistentReplies,
                    "lookup servers disagree on the data file of epoch \(epoch) and no majority settles it",
                    servers: (Set(votes.keys).union(faulty)).sorted()
                )
            }
            let (majority, members) = (winner.key, winner.value)
            faulty.formUnion(votes.keys.filter { votes[$0] != majority })
            if digest == majority {
                return LookupRecords(data: result.data, faultyServers: faulty.sorted(), isVerified: members.count > 1)
            }
            // This server's file is out of line: fetch from one the majority vouches for next.
            faulty.insert(server)
            let remaining = order[index...].filter { !faulty.contains($0) }
            order = Array(order[..<index]) + remaining.sorted { members.contains($0) && !members.contains($1) }
        }
        if !faulty.isEmpty {
            throw DP5Error(
                .inconsistentReplies,
                "no lookup server sent a data file of epoch \(epoch) that the others confirm",
                servers: faulty.sorted()
            )
        }
        throw lastFailure ?? DP5Error(.notEnoughReplies, "no lookup server answered the download", originalCode: 0x16)
    }

    /// The digest in a `83 ‖ E ‖ SHA-256` reply, or `nil` for anything else (an original server
    /// answers the unknown request with `00 ‖ E`).
    static func digest(fromReply reply: [UInt8], epoch: Epoch) -> [UInt8]? {
        guard reply.count == 5 + 32, reply[0] == LookupResponder.digestStatus, Epoch(wireBytes: reply[1...]) == epoch
        else { return nil }
        return Array(reply[5...])
    }
}
