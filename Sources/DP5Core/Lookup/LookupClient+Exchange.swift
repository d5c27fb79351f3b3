extension LookupClient {
    /// Runs a whole lookup over `send`, which POSTs a request body to lookup server `i` (for
    /// `epoch`) and returns its reply body.
    ///
    /// The metadata comes from a random server, falling back to the others in turn. PIR requests
    /// then go out in parallel; a server whose `send` throws counts as silent, and the lookup
    /// succeeds while t + 1 servers answer. A download goes to one random server, and to the
    /// next one if that fails.
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
        if prepared.method == .download, let chosen = prepared.requests.firstIndex(where: { $0 != nil }) {
            // One server is asked; if it fails, the next one is, so one server down costs a retry, not the lookup.
            var lastFailure: (any Error)?
            for offset in 0..<servers {
                let server = (chosen + offset) % servers
                var replies = [[UInt8]?](repeating: nil, count: servers)
                do {
                    replies[server] = try await send(server, prepared.requests[chosen]!)
                    return try prepared.complete(replies: replies)
                } catch {
                    lastFailure = error
                }
            }
            throw lastFailure!
        }
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
