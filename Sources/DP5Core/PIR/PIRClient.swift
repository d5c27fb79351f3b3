/// The client's half of Goldberg's IT-PIR over GF(2^8), as Percy++ 1.0.0 does it for DP5.
///
/// To fetch block `b` privately from `L` servers of which at most `t` collude, the client picks
/// distinct non-zero evaluation points `α_p`, and for every block `j` a random polynomial
/// `f_j(x) = [j = b] + c_1 x + … + c_t x^t`. Server `p` receives `r_p · f_j(α_p)` for every `j`
/// (the random non-zero multiplier `r_p` is Percy++'s query randomisation). Any `t` servers see
/// uniformly random vectors. Each answer is a share of block `b`; `t + 1` of them interpolate it at
/// `x = 0`, and every further answer checks the result.
public struct PIRQuery: Sendable {
    /// Number of blocks in the database.
    public let numberOfBlocks: Int
    /// Bytes per block.
    public let blockSize: Int
    /// Privacy level t.
    public let privacyLevel: Int
    /// The blocks asked for, one query each.
    public let requestedBlocks: [Int]
    /// Evaluation point `α_p` of each server.
    public let evaluationPoints: [UInt8]
    /// Randomisation multiplier `r_{p,q}` for server `p` and query `q`.
    public let multipliers: [[UInt8]]
    /// The Percy++ wire body for each server (`uint16 LE count ‖ vectors`).
    public let serverQueries: [[UInt8]]

    /// Builds the queries for `blocks`.
    ///
    /// Random bytes are drawn in this order: the evaluation points (redrawn while zero or
    /// repeated), the multipliers server by server and query by query (redrawn while zero), then
    /// the polynomial coefficients query by query, block by block, degree 1 to t.
    ///
    /// - Precondition: every block is in `0..<numberOfBlocks`, and `blocks.count` fits in 16 bits.
    public init(
        blocks: [Int],
        numberOfBlocks: Int,
        blockSize: Int,
        parameters: LookupParameters,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(numberOfBlocks > 0 && blocks.allSatisfy { (0..<numberOfBlocks).contains($0) })
        precondition(blocks.count <= Int(UInt16.max))
        let servers = parameters.numberOfServers
        let degree = parameters.privacyLevel
        var random = RandomBytes()

        var points: [UInt8] = []
        while points.count < servers {
            let point = random.nextNonZero(using: &generator)
            if !points.contains(point) { points.append(point) }
        }
        let multipliers = (0..<servers).map { _ in
            blocks.map { _ in random.nextNonZero(using: &generator) }
        }
        var wire = (0..<servers).map { _ -> [UInt8] in
            var body = [UInt8](repeating: 0, count: 2 + blocks.count * numberOfBlocks)
            body[0] = UInt8(truncatingIfNeeded: blocks.count)
            body[1] = UInt8(truncatingIfNeeded: blocks.count >> 8)
            return body
        }
        var coefficients = [UInt8](repeating: 0, count: degree)
        for (query, wanted) in blocks.enumerated() {
            for block in 0..<numberOfBlocks {
                random.fill(&coefficients, using: &generator)
                let constant: UInt8 = block == wanted ? 1 : 0
                for server in 0..<servers {
                    let point = points[server]
                    var share: UInt8 = 0
                    for coefficient in coefficients.reversed() {
                        share = GF256.multiply(share ^ coefficient, point)
                    }
                    share ^= constant
                    wire[server][2 + query * numberOfBlocks + block] = GF256.multiply(multipliers[server][query], share)
                }
            }
        }
        self.numberOfBlocks = numberOfBlocks
        self.blockSize = blockSize
        self.privacyLevel = degree
        self.requestedBlocks = blocks
        self.evaluationPoints = points
        self.multipliers = multipliers
        self.serverQueries = wire
    }

    /// Recovers the requested blocks from the servers' answers.
    ///
    /// - Parameters:
    ///   - replies: per server, its Percy++ answer (`count · blockSize` bytes), or `nil` if it
    ///     sent none. An answer of the wrong length counts as faulty.
    ///   - isPlausible: whether reconstructed blocks can be the real ones (for DP5: every record
    ///     in the bucket its key maps to). It decides between reconstructions when the answers
    ///     disagree without a decisive majority, and checks a result no spare answer confirms.
    /// - Returns: the blocks, and the servers whose answers were missing-but-expected, malformed
    ///   or inconsistent with the decoded blocks.
    /// - Throws: ``DP5Error/Code/notEnoughReplies`` with fewer than `t + 1` well-formed answers;
    ///   ``DP5Error/Code/inconsistentReplies`` when the answers disagree and neither a set of
    ///   servers large enough to be sure of (more than `(answers + t) / 2`) nor plausibility
    ///   singles out one result, or when an unconfirmed result is implausible.
    public func decode(replies: [[UInt8]?], isPlausible: ([[UInt8]]) -> Bool = { _ in true }) throws -> PIRDecodedBlocks
    {
        precondition(replies.count == evaluationPoints.count, "one reply slot per server")
        let expectedLength = requestedBlocks.count * blockSize
        var malformed: [Int] = []
        var shares: [Int: [UInt8]] = [:]
        for (server, reply) in replies.enumerated() {
            guard let reply else { continue }
            guard reply.count == expectedLength else {
                malformed.append(server)
                continue
            }
            shares[server] = unrandomised(reply, server: server)
        }
        let usable = shares.keys.sorted()
        guard usable.count > privacyLevel else {
            throw DP5Error(
                .notEnoughReplies,
                "\(usable.count) usable PIR answers, at least \(privacyLevel + 1) needed",
                servers: malformed,
                originalCode: 0x05
            )
        }

        // Two different degree-t polynomials share at most t points, so an agreeing set larger
        // than (answers + t) / 2 has no rival of its size or more: the result is unique.
        let decisive = { (agreeing: [Int]) in 2 * agreeing.count > usable.count + privacyLevel }
        // The original's fast path: interpolate from the last t + 1 answers, check the others.
        var best = agreement(of: Array(usable.suffix(privacyLevel + 1)), among: usable, shares: shares)
        var candidates = [best]
        if best.agreeing.count < usable.count && !decisive(best.agreeing) {
            // Any t + 1 members of an agreeing set give the same polynomial, so only subsets not
            // inside a set already seen can lead anywhere new.
            for subset in Self.subsets(of: usable, size: privacyLevel + 1, limit: Self.subsetSearchLimit)
            where !candidates.contains(where: { candidate in subset.allSatisfy(candidate.agreeing.contains) }) {
                let candidate = agreement(of: subset, among: usable, shares: shares)
                candidates.append(candidate)
                if candidate.agreeing.count > best.agreeing.count { best = candidate }
                if decisive(best.agreeing) { break }
            }
        }
        var blocks: [[UInt8]]
        var decidedByPlausibility = false
        if best.agreeing.count == usable.count || decisive(best.agreeing) {
            blocks = interpolate(at: 0, from: best.subset, shares: shares)
            // Nothing beyond the t + 1 determining answers confirms it: check it can be real.
            if best.agreeing.count == privacyLevel + 1 && !isPlausible(blocks) {
                throw DP5Error(
                    .inconsistentReplies,
                    "the \(usable.count) PIR answers decode to buckets that cannot be real; with only t + 1 answers the liar cannot be told",
                    servers: malformed,
                    originalCode: 0xFF
                )
            }
        } else {
            // No decisive majority: the reconstruction that yields real buckets is the honest
            // one, if exactly one does; its servers are honest, the others lie.
            let plausible = candidates.compactMap { candidate -> (agreeing: [Int], subset: [Int], blocks: [[UInt8]])? in
                let blocks = interpolate(at: 0, from: candidate.subset, shares: shares)
                return isPlausible(blocks) ? (candidate.agreeing, candidate.subset, blocks) : nil
            }
            guard plausible.count == 1 else {
                throw DP5Error(
                    .inconsistentReplies,
                    "PIR answers disagree: at most \(best.agreeing.count) of \(usable.count) agree, more than \((usable.count + privacyLevel) / 2) needed, and \(plausible.count) reconstructions look real",
                    servers: malformed,
                    originalCode: 0xFF
                )
            }
            best = (plausible[0].agreeing, plausible[0].subset)
            blocks = plausible[0].blocks
            decidedByPlausibility = true
        }
        let faulty = (malformed + usable.filter { !best.agreeing.contains($0) }).sorted()
        return PIRDecodedBlocks(
            blocks: blocks,
            faultyServers: faulty,
            isVerified: decidedByPlausibility || best.agreeing.count > privacyLevel + 1
        )
    }

    /// Server `p`'s answer with its randomisation removed: query `q`'s part divided by `r_{p,q}`.
    private func unrandomised(_ reply: [UInt8], server: Int) -> [UInt8] {
        var result = reply
        for query in requestedBlocks.indices {
            let inverse = GF256.inverse(multipliers[server][query])
            var part = Array(result[(query * blockSize)..<((query + 1) * blockSize)])
            GF256Kernel.scale(&part, by: inverse)
            result.replaceSubrange((query * blockSize)..<((query + 1) * blockSize), with: part)
        }
        return result
    }

    /// The servers whose answers lie on the polynomial through the answers of `subset`.
    private func agreement(
        of subset: [Int],
        among usable: [Int],
        shares: [Int: [UInt8]]
    ) -> (agreeing: [Int], subset: [Int]) {
        (usable.filter { subset.contains($0) || consistent(server: $0, with: subset, shares: shares) }, subset)
    }

    private func consistent(server: Int, with subset: [Int], shares: [Int: [UInt8]]) -> Bool {
        interpolate(at: evaluationPoints[server], from: subset, shares: shares).joined().elementsEqual(shares[server]!)
    }

    /// The shared polynomial through the points of `subset`, evaluated at `x`, per query.
    private func interpolate(at x: UInt8, from subset: [Int], shares: [Int: [UInt8]]) -> [[UInt8]] {
        let weights = Self.lagrangeCoefficients(points: subset.map { evaluationPoints[$0] }, at: x)
        var combined = [UInt8](repeating: 0, count: requestedBlocks.count * blockSize)
        guard !combined.isEmpty else { return requestedBlocks.map { _ in [] } }
        combined.withUnsafeMutableBufferPointer { output in
            for (server, weight) in zip(subset, weights) {
                shares[server]!.withUnsafeBufferPointer { share in
                    GF256Kernel.multiplyAccumulate(
                        weight,
                        source: share.baseAddress!,
                        into: output.baseAddress!,
                        count: share.count
                    )
                }
            }
        }
        return requestedBlocks.indices.map { Array(combined[($0 * blockSize)..<(($0 + 1) * blockSize)]) }
    }

    /// Lagrange basis values `L_i(x) = Π_{j≠i} (x − α_j) / (α_i − α_j)` for distinct points `α`.
    static func lagrangeCoefficients(points: [UInt8], at x: UInt8) -> [UInt8] {
        points.indices.map { i in
            var numerator: UInt8 = 1
            var denominator: UInt8 = 1
            for j in points.indices where j != i {
                numerator = GF256.multiply(numerator, x ^ points[j])
                denominator = GF256.multiply(denominator, points[i] ^ points[j])
            }
            return GF256.divide(numerator, denominator)
        }
    }

    /// The most (t + 1)-subsets the decoder interpolates when answers disagree. The count grows
    /// as C(answers, t + 1); this bound keeps a lookup with many servers from running for ever,
    /// and covers every subset up to 14 servers.
    static let subsetSearchLimit = 4096

    /// The first `limit` subsets of `items` with `size` elements, in lexicographic order of positions.
    static func subsets(of items: [Int], size: Int, limit: Int = .max) -> [[Int]] {
        guard size >= 1, size <= items.count else { return [] }
        var result: [[Int]] = []
        var positions = Array(0..<size)
        while result.count < limit {
            result.append(positions.map { items[$0] })
            var index = size - 1
            while index >= 0 && positions[index] == items.count - size + index { index -= 1 }
            if index < 0 { return result }
            positions[index] += 1
            for following in (index + 1)..<size { positions[following] = positions[following - 1] + 1 }
        }
        return result
    }
}

/// The outcome of decoding PIR answers.
public struct PIRDecodedBlocks: Sendable, Hashable {
    /// The requested blocks, in request order.
    public let blocks: [[UInt8]]
    /// Servers whose answers were malformed or disagreed with the decoded blocks.
    public let faultyServers: [Int]
    /// Whether the blocks were checked: at least one answer beyond the t + 1 that determine them
    /// agreed, or the answers disagreed and only this reconstruction yields real buckets. With
    /// exactly t + 1 answers there is nothing to check against but plausibility; that is a limit
    /// of the scheme, not of this decoder.
    public let isVerified: Bool
}
