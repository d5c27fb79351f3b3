extension LookupClient {
    /// Runs a whole lookup over `send`, which POSTs a request body to lookup server `i` (for
    /// `epoch`) and returns its reply body.
    ///
    /// The metadata comes from a random server, falling back to the others in turn. The
    /// requests then go out in parallel; a server whose `send` throws counts as silent, and the
    /// lookup succeeds while enough servers answer.
    ///
    /// - Parameter configuration: if given, the servers' database must match it
    ///   (``DP5Error/Code/configurationMismatch`` otherwise).
    public func lookup(
        buddies: [DHPublicKey],
        epoch: Epoch,
        parameters: LookupParameters,
        expecting configuration: DP5Configuration? = nil,
        send: @escaping @Sendable (_ server: Int, _ body: [UInt8]) async throws -> [UInt8]
    ) async throws -> LookupResult {
        let servers = parameters.numberOfServers
        let first = Int.random(in: 0..<servers)
        var metadata: Metadata?
        var lastError: (any Error)?
        for offset in 0..<servers where metadata == nil {
            do {
                let reply = try await send((first + offset) % servers, LookupClient.metadataRequest(epoch: epoch))
                metadata = try LookupClient.metadata(fromReply: reply, epoch: epoch)
            } catch {
                lastError = error
            }
        }
        guard let metadata else { throw lastError! }
        try configuration.map { try metadata.check(matches: $0) }
        let prepared = try prepareLookup(buddies: buddies, metadata: metadata, parameters: parameters)
        let replies = await withTaskGroup(of: (Int, [UInt8]?).self) { group in
            for (server, request) in prepared.requests.enumerated() {
                guard let request else { continue }
                group.addTask { (server, try? await send(server, request)) }
            }
            var replies = [[UInt8]?](repeating: nil, count: servers)
            for await (server, reply) in group { replies[server] = reply }
            return replies
        }
        return try prepared.complete(replies: replies)
    }
}
