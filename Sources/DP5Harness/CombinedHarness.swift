public import DP5Core

/// Drives a combined-mode deployment: users register one record each (their presence for all
/// buddies), the epoch is fast-forwarded, and users look their buddies up by BLS public key.
///
/// Every answer is checked: a buddy is online exactly when they registered this epoch, with the
/// data they published.
public struct CombinedHarness: Sendable {
    /// The combined deployment's parameters; must match the servers'.
    public let configuration: DP5Configuration
    /// Number of lookup servers and privacy level.
    public let parameters: LookupParameters
    /// How many requests run at once.
    public let concurrency: Int

    /// Creates a harness.
    public init(configuration: DP5Configuration, parameters: LookupParameters, concurrency: Int) {
        precondition(configuration.combined, "a combined harness needs a combined-mode configuration")
        self.configuration = configuration
        self.parameters = parameters
        self.concurrency = max(1, concurrency)
    }

    private var runner: Harness {
        Harness(configuration: configuration, parameters: parameters, concurrency: concurrency)
    }

    /// Registers `keys` for the next epoch, each publishing ``UserPopulation/combinedPresenceData(registrant:size:)``.
    ///
    /// - Returns: the epoch registered for.
    public func registerAll(
        _ keys: [BLSPrivateKey],
        on deployment: some DP5Deployment,
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws -> Epoch {
        let current = try await deployment.currentEpoch()
        let configuration = configuration
        let hash = CombinedEpochHash(epoch: current.next)
        _ = try await runner.forEach(keys, progress: progress) { key in
            let data = UserPopulation.combinedPresenceData(registrant: key.publicKey, size: configuration.dataPlainSize)
            let message = try CombinedRegistrationClient(privateKey: key, configuration: configuration)
                .registrationMessage(epoch: current.next, data: data, epochHash: hash)
            let reply = try await deployment.register(message, currentEpoch: current)
            try RegistrationClient.verifyReply(reply, epoch: current.next)
        }
        return current.next
    }

    /// One looker: the BLS keys of the buddies it asks about.
    public struct Looker: Sendable {
        /// The buddies' BLS public keys.
        public let buddies: [BLSPublicKey]
        /// Creates a looker.
        public init(buddies: [BLSPublicKey]) { self.buddies = buddies }
    }

    /// Looks up every looker's buddies in `epoch`'s database and checks each answer against
    /// `registered`, the keys that registered for `epoch`.
    public func lookUp(
        _ lookers: [Looker],
        registered: Set<BLSPublicKey>,
        epoch: Epoch,
        on deployment: some DP5Deployment,
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws -> LookupTally {
        let clock = ContinuousClock()
        let configuration = configuration
        let parameters = parameters
        // H_G2(E) and its Miller-loop lines, once for the whole epoch; the simulated users share
        // one process, so each buddy's hashed key is paired once and shared (a real client
        // pairs its own buddies' keys: 100 pairings per lookup).
        let hash = CombinedEpochHash(epoch: epoch, memoizing: true)
        let tallies = try await runner.forEach(lookers, progress: progress) { looker -> LookupTally in
            let start = clock.now
            let result: CombinedLookupResult
            do {
                result = try await CombinedLookupClient().lookup(
                    buddies: looker.buddies,
                    epoch: epoch,
                    parameters: parameters,
                    expecting: configuration,
                    epochHash: hash
                ) { server, body, limit in
                    try await deployment.lookup(body, epoch: epoch, server: server, limit: limit)
                }
            } catch let error as DP5Error where error.code != .configurationMismatch {
                return LookupTally(failure: error)
            }
            var tally = LookupTally(
                method: result.method,
                latency: start.duration(to: clock.now),
                isVerified: result.isVerified,
                faultyServers: result.faultyServers
            )
            for presence in result.presences {
                let expected =
                    registered.contains(presence.publicKey)
                    ? UserPopulation.combinedPresenceData(
                        registrant: presence.publicKey,
                        size: configuration.dataPlainSize
                    ) : nil
                tally.answers += 1
                if presence.isOnline { tally.online += 1 }
                if presence.data != expected { tally.wrong += 1 }
            }
            return tally
        }
        return tallies.reduce(LookupTally(), +)
    }
}
