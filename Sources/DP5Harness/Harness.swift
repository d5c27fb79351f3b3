public import DP5Core

/// Drives a deployment the way the original `dp5client.py` does: every user registers, the
/// registration server is fast-forwarded one epoch, then users look their buddies up.
///
/// Beyond the original, it checks every answer: a buddy must be online with exactly the data
/// they registered for the looker, and everyone else offline.
public struct Harness: Sendable {
    /// The deployment's parameters; must match the servers'.
    public let configuration: DP5Configuration
    /// Number of lookup servers and privacy level.
    public let parameters: LookupParameters
    /// How many requests run at once.
    public let concurrency: Int
    /// The data a registrant gives one buddy; by default ``UserPopulation/presenceData(registrant:buddy:size:)``.
    /// A two-level deployment's standard epochs carry the registrant's BLS public key instead.
    public var data: @Sendable (_ registrant: DHPublicKey, _ buddy: DHPublicKey, _ size: Int) -> [UInt8] =
        UserPopulation.presenceData

    /// Creates a harness.
    public init(configuration: DP5Configuration, parameters: LookupParameters, concurrency: Int) {
        self.configuration = configuration
        self.parameters = parameters
        self.concurrency = max(1, concurrency)
    }

    /// Registers every user for the next epoch.
    ///
    /// - Returns: the epoch registered for.
    public func registerAll(
        _ users: [SimulatedUser],
        on deployment: some DP5Deployment,
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws -> Epoch {
        let current = try await deployment.currentEpoch()
        let (configuration, data) = (configuration, data)
        _ = try await forEach(users, progress: progress) { user in
            let client = RegistrationClient(privateKey: user.privateKey, configuration: configuration)
            let buddies = user.buddies.map {
                BuddyRegistration(publicKey: $0, data: data(user.privateKey.publicKey, $0, configuration.dataPlainSize))
            }
            let message = try client.registrationMessage(epoch: current.next, buddies: buddies)
            let reply = try await deployment.register(message, currentEpoch: current)
            try RegistrationClient.verifyReply(reply, epoch: current.next)
        }
        return current.next
    }

    /// Looks up the buddies of `lookers` in `epoch`'s database and checks every answer against
    /// what `registered` registered.
    ///
    /// A lookup that fails is counted, with its reason and the servers it names, rather than
    /// ending the run; so is a lookup whose answers nothing could check.
    ///
    /// Each user's lookup is timed (``LookupTally/latencies``) for the latency percentiles.
    public func lookUp(
        _ lookers: [SimulatedUser],
        registered: [SimulatedUser],
        epoch: Epoch,
        on deployment: some DP5Deployment,
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in },
        observe: @escaping @Sendable (_ looker: SimulatedUser, _ result: LookupResult) -> Void = { _, _ in }
    ) async throws -> LookupTally {
        let clock = ContinuousClock()
        let (configuration, parameters, data) = (configuration, parameters, data)
        let registrations = Dictionary(
            registered.map { ($0.privateKey.publicKey, Set($0.buddies)) },
            uniquingKeysWith: { $0.union($1) }
        )
        let tallies = try await forEach(lookers, progress: progress) { user -> LookupTally in
            let me = user.privateKey.publicKey
            let start = clock.now
            let result: LookupResult
            do {
                result = try await LookupClient(privateKey: user.privateKey).lookup(
                    buddies: user.buddies,
                    epoch: epoch,
                    parameters: parameters,
                    expecting: configuration
                ) { server, body, limit in
                    try await deployment.lookup(body, epoch: epoch, server: server, limit: limit)
                }
            } catch let error as DP5Error where error.code != .configurationMismatch {
                return LookupTally(failure: error)
            }
            observe(user, result)
            var tally = LookupTally(
                method: result.method,
                latency: start.duration(to: clock.now),
                isVerified: result.isVerified,
                faultyServers: result.faultyServers
            )
            for presence in result.presences {
                let expectedOnline = registrations[presence.publicKey]?.contains(me) ?? false
                let expectedData = expectedOnline ? data(presence.publicKey, me, configuration.dataPlainSize) : nil
                tally.answers += 1
                if presence.isOnline { tally.online += 1 }
                if presence.data != expectedData { tally.wrong += 1 }
            }
            return tally
        }
        return tallies.reduce(LookupTally(), +)
    }

    /// Runs `body` for every element with at most ``concurrency`` at once, keeping input order,
    /// and reports each completion to `progress`.
    func forEach<Element: Sendable, Result: Sendable>(
        _ elements: [Element],
        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void,
        _ body: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: elements.count)
            var next = 0
            for _ in 0..<min(concurrency, elements.count) {
                let index = next
                group.addTask { (index, try await body(elements[index])) }
                next += 1
            }
            var done = 0
            while let (index, result) = try await group.next() {
                results[index] = result
                done += 1
                progress(done, elements.count)
                if next < elements.count {
                    let index = next
                    group.addTask { (index, try await body(elements[index])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

/// Counts from a batch of lookups.
public struct LookupTally: Sendable, Hashable {
    /// Lookups done by PIR.
    public var pirLookups = 0
    /// Lookups done by downloading the database.
    public var downloadLookups = 0
    /// Buddies asked about.
    public var answers = 0
    /// Buddies found online.
    public var online = 0
    /// Answers that differ from what was registered: must be 0.
    public var wrong = 0
    /// Lookups that failed (too few or contradictory answers): must be 0.
    public var failed = 0
    /// Why lookups failed, with how many failed so.
    public var failures: [String: Int] = [:]
    /// Lookups whose answers no spare server could confirm (only t + 1 answered, or no other
    /// server vouched for a downloaded file).
    public var unverified = 0
    /// Per lookup server (index), how many lookups named it as sending bad answers.
    public var faultyServers: [Int: Int] = [:]
    /// Each successful lookup's duration, in completion order.
    public var latencies: [Duration] = []

    /// An empty tally.
    public init() {}

    /// One finished lookup: how it was done, how long it took, and which servers it named.
    init(method: LookupMethod, latency: Duration, isVerified: Bool, faultyServers: [Int]) {
        if method == .pir { pirLookups = 1 }
        if method == .download { downloadLookups = 1 }
        latencies = [latency]
        if !isVerified && method != .none { unverified = 1 }
        for server in faultyServers { self.faultyServers[server, default: 0] += 1 }
    }

    /// One failed lookup, counted by its reason and the servers it blamed.
    init(failure error: DP5Error) {
        failed = 1
        failures[error.code.description + ": " + error.reason, default: 0] += 1
        for server in error.servers { faultyServers[server, default: 0] += 1 }
    }

    /// The `fraction` (0…1) percentile of ``latencies`` by the nearest-rank method, or `nil`
    /// if there are none.
    public func latencyPercentile(_ fraction: Double) -> Duration? {
        guard !latencies.isEmpty else { return nil }
        let sorted = latencies.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }

    /// Adds two tallies.
    public static func + (lhs: LookupTally, rhs: LookupTally) -> LookupTally {
        var sum = lhs
        sum.pirLookups += rhs.pirLookups
        sum.downloadLookups += rhs.downloadLookups
        sum.answers += rhs.answers
        sum.online += rhs.online
        sum.wrong += rhs.wrong
        sum.failed += rhs.failed
        sum.failures.merge(rhs.failures, uniquingKeysWith: +)
        sum.unverified += rhs.unverified
        sum.faultyServers.merge(rhs.faultyServers, uniquingKeysWith: +)
        sum.latencies += rhs.latencies
        return sum
    }
}
