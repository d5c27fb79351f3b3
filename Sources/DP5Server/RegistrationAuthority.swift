import CoreMetrics
import DP5Core
import Foundation
import Logging

/// The registration server's state: its epoch, the registrations for the next epoch, and the
/// publication of each epoch's database.
///
/// Registrations for epoch E + 1 (made during E) are appended to `regdir/<E+1 as %08x>.reg` and
/// synced before they are acknowledged. When the epoch becomes E + 1, that file is turned into
/// `datadir/data<E+1>.dat` and `meta<E+1>.dat` and renamed `.sreg`, as the original did. All of
/// it happens inside this actor, so a registration and an epoch change never interleave.
///
/// An acknowledged registration must reach exactly the database its reply named, across any
/// crash: so the fast-forward offset is stored in `regdir/fastforward` before a fast-forward is
/// answered, the current epoch is never below the newest published one (a restarted server
/// cannot take registrations for an epoch it has already published), and a registration file
/// cut short by a crash is trimmed to whole records before anything is appended to it.
actor RegistrationAuthority {
    private let configuration: DP5Configuration
    private let clock: any EpochClock
    private let registrationDirectory: String
    private let publications: PublicationDirectory
    private let processor: RegistrationProcessor
    /// Combined mode's σ checks and pairings; used off the actor, so registrations arriving
    /// together are processed on every core.
    private nonisolated let combinedProcessor: CombinedRegistrationProcessor
    private let logger: Logger
    private let metrics: DP5Metrics
    /// Epochs added by `/debugfastforward`, kept in ``fastForwardPath`` across restarts.
    private var fastForwardOffset: UInt32
    /// The newest epoch with a database in `datadir`; the current epoch never falls below it.
    private var newestPublished: Epoch?
    /// How many published epochs `datadir` and `regdir` keep (`keepEpochs`).
    private let keptEpochs: Int
    /// The epoch the last full check published through. Due epochs change only when the epoch
    /// moves, so until then every request skips the directory scan.
    private var publishedThrough: Epoch?

    init(
        configuration: DP5Configuration,
        clock: any EpochClock,
        registrationDirectory: String,
        publications: PublicationDirectory,
        keptEpochs: Int = ServerConfiguration.defaultKeptEpochs,
        logger: Logger,
        metrics: DP5Metrics = DP5Metrics()
    ) throws {
        self.metrics = metrics
        self.configuration = configuration
        self.clock = clock
        self.registrationDirectory = registrationDirectory
        self.publications = publications
        self.processor = RegistrationProcessor(configuration: configuration)
        self.combinedProcessor = CombinedRegistrationProcessor(configuration: configuration)
        self.keptEpochs = max(2, keptEpochs)
        self.logger = logger
        self.fastForwardOffset = try Self.storedFastForwardOffset(
            at: registrationDirectory + "/" + Self.fastForwardFileName
        )
        self.newestPublished = publications.publishedEpochs().first
    }

    static let fastForwardFileName = "fastforward"
    private var fastForwardPath: String { registrationDirectory + "/" + Self.fastForwardFileName }

    /// The offset a previous run stored, or 0.
    private static func storedFastForwardOffset(at path: String) throws -> UInt32 {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let offset = UInt32(text) else {
            throw DP5ServerError.corruptDatabase(
                "\(path) does not hold a fast-forward offset (a decimal number); delete it to start from the clock's epoch"
            )
        }
        return offset
    }

    /// The server's current epoch: its clock's plus any fast-forwards, and never below the newest
    /// published epoch (a clock set back, or an offset lost, must not reopen a published epoch).
    var currentEpoch: Epoch {
        let clocked = Epoch(configuration.currentEpoch(clock: clock).rawValue &+ fastForwardOffset)
        guard let newestPublished, newestPublished > clocked else { return clocked }
        return newestPublished
    }

    /// Seconds until the next epoch begins by the server's clock.
    var secondsUntilNextEpoch: Double {
        let now = clock.secondsSince1970()
        let clockEpoch = configuration.epoch(atSecondsSince1970: now)
        return max(0, Double(configuration.startOfEpoch(clockEpoch.next)) - now)
    }

    private func registrationPath(_ epoch: Epoch, suffix: String = "reg") -> String {
        registrationDirectory + "/" + String(format: "%08x", epoch.rawValue) + "." + suffix
    }

    /// Handles `POST /register/<urlEpoch>/` in either mode.
    ///
    /// In combined mode σ is decoded, checked and paired before the actor is entered (the
    /// epoch σ claims is checked against the server's inside, where the epoch cannot move).
    ///
    /// - Returns: the 5-byte reply, sent only after accepted records are on disk.
    /// - Throws: ``DP5ServerError/refused(_:)`` if `urlEpoch` is not the current epoch.
    nonisolated func accept(_ message: [UInt8], urlEpoch: Epoch) async throws -> [UInt8] {
        guard combinedProcessor.configuration.combined else { return try await register(message, urlEpoch: urlEpoch) }
        let processed = Epoch(wireBytes: message).map { combinedProcessor.process(message, nextEpoch: $0) }
        return try await storeCombined(message, processed: processed, urlEpoch: urlEpoch)
    }

    private func storeCombined(
        _ message: [UInt8],
        processed: CombinedRegistrationProcessor.Outcome?,
        urlEpoch: Epoch
    ) throws -> [UInt8] {
        let next = try checkRegistrationEpoch(urlEpoch)
        // Refusals for the length or the epoch are cheap to recompute against the server's epoch.
        let result =
            processed.flatMap { $0.outcome.reply.epoch == next ? $0 : nil }
            ?? combinedProcessor.process(message, nextEpoch: next)
        if let refusal = result.signatureError {
            logger.warning(
                "Refused a combined registration: sigma is \(refusal)",
                metadata: ["dp5.epoch": "\(next)", "dp5.refusal": "\(refusal)"]
            )
        }
        if !result.outcome.storedRecords.isEmpty {
            try DurableFiles.appendRecordsAndSync(
                result.outcome.storedRecords,
                recordSize: configuration.recordSize,
                to: registrationPath(next)
            )
        }
        return result.outcome.reply.rawRepresentation
    }

    /// The checks of the URL's epoch both modes share; returns the epoch registrations are for.
    private func checkRegistrationEpoch(_ urlEpoch: Epoch) throws -> Epoch {
        try publishDueEpochs()
        let current = currentEpoch
        guard urlEpoch == current else {
            throw DP5ServerError.refused("registration made in epoch \(urlEpoch), the server is in epoch \(current)")
        }
        guard !publications.isPublished(current.next) else {
            throw DP5ServerError.refused(
                "registration made in epoch \(urlEpoch), the server is in epoch \(current) and has already published \(current.next)"
            )
        }
        return current.next
    }

    /// Handles a standard-mode `POST /register/<urlEpoch>/`.
    ///
    /// - Returns: the 5-byte reply, sent only after accepted records are on disk.
    /// - Throws: ``DP5ServerError/refused(_:)`` if `urlEpoch` is not the current epoch.
    func register(_ message: [UInt8], urlEpoch: Epoch) throws -> [UInt8] {
        try publishDueEpochs()
        let current = currentEpoch
        guard urlEpoch == current else {
            throw DP5ServerError.refused("registration made in epoch \(urlEpoch), the server is in epoch \(current)")
        }
        // Cannot happen while the current epoch respects the newest published one; if it did, the
        // records would be stored and never published, so the registration is refused instead.
        guard !publications.isPublished(current.next) else {
            throw DP5ServerError.refused(
                "registration made in epoch \(urlEpoch), the server is in epoch \(current) and has already published \(current.next)"
            )
        }
        let outcome = processor.process(message, nextEpoch: current.next)
        if !outcome.storedRecords.isEmpty {
            try DurableFiles.appendRecordsAndSync(
                outcome.storedRecords,
                recordSize: configuration.recordSize,
                to: registrationPath(current.next)
            )
        }
        return outcome.reply.rawRepresentation
    }

    /// Publishes every epoch up to the current one that has registrations but no database yet,
    /// and the current epoch in any case (with no registrations its database is empty).
    ///
    /// - Returns: the epochs published by this call, in order.
    @discardableResult
    func publishDueEpochs() throws -> [Epoch] {
        let current = currentEpoch
        if publishedThrough == current { return [] }
        var due = Set(pendingRegistrationEpochs().filter { $0 <= current })
        due.insert(current)
        var published: [Epoch] = []
        for epoch in due.sorted() where !publications.isPublished(epoch) {
            try publish(epoch)
            published.append(epoch)
        }
        if let newest = published.last, newest > (newestPublished ?? newest.previous) { newestPublished = newest }
        if !published.isEmpty { removeOldEpochs() }
        publishedThrough = current
        return published
    }

    /// Handles `/debugfastforward`: one epoch on, and the new epoch published.
    ///
    /// The new offset is on disk before the new epoch is published or the reply is sent, so a
    /// server killed at any point restarts in an epoch at least as far on as any reply it gave.
    func fastForward() throws -> (old: Epoch, new: Epoch) {
        try publishDueEpochs()
        let old = currentEpoch
        // Counted from the clock, so a fast-forward after a clock-lagging restart still moves on one.
        let clocked = configuration.currentEpoch(clock: clock).rawValue
        let offset = old.next.rawValue &- clocked
        try DurableFiles.writeAtomically(Array("\(offset)\n".utf8), to: fastForwardPath)
        fastForwardOffset = offset
        try publishDueEpochs()
        return (old, currentEpoch)
    }

    /// Deletes the databases and registration files of all but the newest ``keptEpochs``
    /// published epochs.
    private func removeOldEpochs() {
        let published = publications.publishedEpochs()
        guard published.count > keptEpochs else { return }
        let oldest = published[keptEpochs - 1]
        publications.removeEpochs(before: oldest)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: registrationDirectory)) ?? []
        for name in names where name.count == 13 && (name.hasSuffix(".sreg")) {
            guard let epoch = UInt32(String(name.prefix(8)), radix: 16), Epoch(epoch) < oldest else { continue }
            try? FileManager.default.removeItem(atPath: registrationDirectory + "/" + name)
        }
    }

    private func publish(_ epoch: Epoch) throws {
        let path = registrationPath(epoch)
        var records = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        let whole = records.count - records.count % configuration.recordSize
        if whole != records.count {
            // Only an unacknowledged append can be cut short (a crash before fsync returned).
            logger.warning(
                "Dropping a partial record at the end of a registration file",
                metadata: ["dp5.epoch": "\(epoch)"]
            )
            records.removeLast(records.count - whole)
        }
        let buildStart = ContinuousClock.now
        let database = try EpochDatabase.build(records: records, epoch: epoch, configuration: configuration)
        try publications.publish(metadata: database.metadata.rawRepresentation, data: database.data, epoch: epoch)
        metrics.epochBuilds.increment()
        metrics.epochBuildDuration.recordNanoseconds(DP5Metrics.nanoseconds(ContinuousClock.now - buildStart))
        metrics.epochRecords.record(records.count / configuration.recordSize)
        metrics.databaseBytes.record(database.data.count)
        try DurableFiles.renameIfPresent(path, to: registrationPath(epoch, suffix: "sreg"))
        logger.info(
            "Published epoch database",
            metadata: [
                "dp5.epoch": "\(epoch)", "dp5.records": "\(records.count / configuration.recordSize)",
                "dp5.buckets": "\(database.metadata.numberOfBuckets)",
                "dp5.bucketSize": "\(database.metadata.bucketSize)",
            ]
        )
    }

    /// Epochs with a `.reg` file.
    private func pendingRegistrationEpochs() -> [Epoch] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: registrationDirectory)) ?? []
        return names.compactMap { name in
            guard name.hasSuffix(".reg"), name.count == 12 else { return nil }
            return UInt32(String(name.prefix(8)), radix: 16).map { Epoch($0) }
        }
    }
}
