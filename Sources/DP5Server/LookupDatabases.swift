import AsyncHTTPClient
import CoreMetrics
import DP5Client
import DP5Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One epoch a lookup server serves: its database, and the coalescer its PIR queries share.
struct ServedEpoch: Sendable {
    let responder: LookupResponder
    let coalescer: PIRCoalescer
}

/// Where a lookup server gets epoch databases from.
enum DatabaseSource: Sendable {
    /// The registration server in the same process writes them into the shared `datadir`.
    case local
    /// A registration server at this base URL, reached with this HTTP client.
    case remote(baseURL: String, client: HTTPClient)
}

/// A lookup server's databases: the newest epoch and the one before it, each verified against
/// its metadata and held as a memory-mapped file.
///
/// A missing epoch is fetched from the registration server (`/download/<E>/meta`, then
/// `/download/<E>` streamed to a temporary file), checked (``EpochDatabase/verify(metadata:data:)``),
/// and stored in `datadir` atomically before it is served; concurrent requests for it share one
/// fetch. Only epochs the registration server has announced (its `GET /` epoch and the one
/// before) are fetched, whatever epoch a client names. A failed fetch is remembered for a few
/// seconds, so lookups meanwhile are refused at once with its reason instead of each waiting
/// for their own. A restarted server serves the verified files it already has.
actor LookupDatabases {
    private let configuration: DP5Configuration
    private let publications: PublicationDirectory
    private let source: DatabaseSource
    private let logger: Logger
    private let engine: PIREngine
    private let metrics: DP5Metrics
    /// The server's configuration file, for messages that say what to change.
    private let configurationFile: String
    private var served: [Epoch: ServedEpoch] = [:]
    private var fetches: [Epoch: Task<LookupResponder, any Error>] = [:]
    /// The registration server's epoch, as last heard.
    private var announcedEpoch: Epoch?
    private var announcement: Task<Epoch, any Error>?
    /// The last failed fetch, its reason, and when it happened.
    private var lastFailure: (epoch: Epoch, reason: String, at: ContinuousClock.Instant)?
    /// How long a failed fetch answers for later requests of its epoch.
    private let failureMemory: Duration = .seconds(3)
    private let clock = ContinuousClock()

    init(
        configuration: DP5Configuration,
        publications: PublicationDirectory,
        source: DatabaseSource,
        engine: PIREngine,
        configurationFile: String,
        logger: Logger,
        metrics: DP5Metrics = DP5Metrics()
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.engine = engine
        self.publications = publications
        self.source = source
        self.configurationFile = configurationFile
        self.logger = logger
    }

    /// The newest epoch held.
    var newestEpoch: Epoch? { served.keys.max() }

    /// Whether `epoch`'s database is loaded and served (the health check's question).
    func isLoaded(_ epoch: Epoch) -> Bool { served[epoch] != nil }

    /// The registration server's epoch as last announced, if it has been.
    var lastAnnouncedEpoch: Epoch? { announcedEpoch }

    /// Cancels the fetches still running and waits for them to end (at shutdown).
    func finishFetches() async {
        let running = Array(fetches.values)
        let asking = announcement
        for task in running { task.cancel() }
        asking?.cancel()
        for task in running { _ = await task.result }
        _ = await asking?.result
    }

    /// Records the registration server's current epoch (from a poll of its `GET /`).
    func announce(_ epoch: Epoch) {
        if announcedEpoch.map({ epoch > $0 }) ?? true { announcedEpoch = epoch }
    }

    /// The responder for `epoch`, loading or fetching its database if needed.
    ///
    /// - Parameter onDemand: the epoch comes from a client's request: it is fetched only if the
    ///   registration server has announced it (its current epoch or the one before), so clients
    ///   cannot make the server fetch arbitrary epochs.
    /// - Throws: ``DP5ServerError`` if the database does not exist (yet), is older than the
    ///   previous epoch, or fails verification.
    func responder(for epoch: Epoch, onDemand: Bool = false) async throws -> ServedEpoch {
        if let served = served[epoch] { return served }
        if let newest = newestEpoch, epoch < newest.previous {
            throw DP5ServerError.refused("epoch \(epoch) is older than the databases this server keeps")
        }
        if onDemand, case .remote = source, !publications.isPublished(epoch) {
            var announced = announcedEpoch
            if announced.map({ epoch > $0 }) ?? true { announced = try await refreshAnnouncement() }
            guard let announced, epoch <= announced, epoch >= announced.previous else {
                throw DP5ServerError.refused(
                    "epoch \(epoch) is not one the registration server has published (it is at epoch \(announced.map { "\($0)" } ?? "?"))"
                )
            }
        }
        if let failure = lastFailure, failure.epoch == epoch, failure.at.duration(to: clock.now) < failureMemory {
            throw DP5ServerError.unavailable(failure.reason)
        }
        let task = fetches[epoch] ?? Task { try await self.obtain(epoch) }
        fetches[epoch] = task
        defer { fetches[epoch] = nil }
        do {
            let responder = try await task.value
            if lastFailure?.epoch == epoch {
                logger.info("Fetched the database after earlier failures", metadata: ["dp5.epoch": "\(epoch)"])
                lastFailure = nil
            }
            return served[epoch] ?? install(responder)
        } catch {
            let reason = "\(error)"
            if lastFailure?.reason != reason {
                // Logged at the default level: a lookup server that cannot get its database
                // serves nobody, and its operator must see why.
                logger.warning(
                    "Cannot get an epoch's database",
                    metadata: ["dp5.epoch": "\(epoch)", "error": "\(reason)"]
                )
            }
            lastFailure = (epoch, reason, clock.now)
            throw error
        }
    }

    /// Asks the registration server for its epoch; concurrent callers share one request.
    private func refreshAnnouncement() async throws -> Epoch {
        guard case .remote(let baseURL, let client) = source else {
            throw DP5ServerError.refused("no registration server to ask")
        }
        let file = configurationFile
        let task =
            announcement
            ?? Task {
                try await Self.registrationServerEpoch(baseURL: baseURL, client: client, configurationFile: file)
            }
        announcement = task
        defer { announcement = nil }
        let epoch = try await task.value
        announce(epoch)
        return announcedEpoch ?? epoch
    }

    /// The registration server's `GET /` epoch.
    static func registrationServerEpoch(
        baseURL: String,
        client: HTTPClient,
        configurationFile: String
    ) async throws -> Epoch {
        let url = baseURL + "/"
        let body = try await download(url, client: client, limit: 4096, configurationFile: configurationFile)
        struct Status: Decodable { let epoch: UInt32 }
        guard let status = try? JSONDecoder().decode(Status.self, from: Data(body)) else {
            throw DP5ServerError.unavailable("\(url) answered something other than {\"epoch\": …}")
        }
        return Epoch(status.epoch)
    }

    /// Loads the newest verified databases already in `datadir` (after a restart).
    func loadExisting() {
        for epoch in publications.publishedEpochs().prefix(2) {
            do {
                if let responder = try publications.loadResponder(epoch, configuration: configuration) {
                    install(responder)
                }
            } catch {
                logger.warning(
                    "Ignoring a stored database that fails verification",
                    metadata: ["dp5.epoch": "\(epoch)", "error": "\(error)"]
                )
            }
        }
    }

    @discardableResult
    private func install(_ responder: LookupResponder) -> ServedEpoch {
        let metrics = self.metrics
        let epoch = ServedEpoch(
            responder: responder,
            coalescer: PIRCoalescer(database: responder.database, engine: engine) {
                metrics.recordPass(queries: $0, duration: $1)
            }
        )
        served[responder.epoch] = epoch
        let newest = newestEpoch!
        if responder.epoch == newest { metrics.databaseBytes.record(responder.metadata.dataFileSize) }
        metrics.databaseLoaded.record(1)
        for old in served.keys where old < newest.previous { served[old] = nil }
        if case .remote = source { publications.removeEpochs(before: newest.previous) }
        return epoch
    }

    private func obtain(_ epoch: Epoch) async throws -> LookupResponder {
        if let responder = try publications.loadResponder(epoch, configuration: configuration) { return responder }
        guard case .remote(let baseURL, let client) = source else {
            throw DP5ServerError.refused("no database for epoch \(epoch)")
        }
        do {
            let responder = try await fetch(epoch, baseURL: baseURL, client: client)
            metrics.countFetch("ok")
            return responder
        } catch {
            metrics.countFetch("failed")
            throw error
        }
    }

    /// Downloads, checks and stores `epoch`'s database from the registration server.
    private func fetch(_ epoch: Epoch, baseURL: String, client: HTTPClient) async throws -> LookupResponder {
        let metadataBytes = try await Self.download(
            baseURL + "/download/\(epoch)/meta",
            client: client,
            limit: Metadata.byteCount,
            configurationFile: configurationFile
        )
        let metadata = try Metadata(rawRepresentation: metadataBytes)
        guard metadata.epoch == epoch else {
            throw DP5ServerError.corruptDatabase(
                "registration server sent the metadata of epoch \(metadata.epoch) for \(epoch)"
            )
        }
        try metadata.check(matches: configuration)
        // Streamed to disk: a data file can be far larger than the server should hold in memory twice.
        let temporary = DurableFiles.temporaryPath(for: publications.dataPath(epoch))
        do {
            let written = try await Self.download(
                baseURL + "/download/\(epoch)",
                client: client,
                limit: metadata.dataFileSize,
                into: temporary,
                configurationFile: configurationFile
            )
            guard written == metadata.dataFileSize else {
                throw DP5ServerError.corruptDatabase(
                    "data file of epoch \(epoch) has \(written) bytes, its metadata says \(metadata.dataFileSize)"
                )
            }
            try EpochDatabase.verify(
                metadata: metadata,
                data: try Data(contentsOf: URL(fileURLWithPath: temporary), options: .alwaysMapped)
            )
            try DurableFiles.moveIntoPlace(temporary, to: publications.dataPath(epoch))
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        try DurableFiles.writeAtomically(metadataBytes, to: publications.metadataPath(epoch))
        logger.info(
            "Fetched epoch database",
            metadata: ["dp5.epoch": "\(epoch)", "dp5.bytes": "\(metadata.dataFileSize)"]
        )
        return try LookupResponder(metadata: metadata, data: publications.mappedData(epoch))
    }

    /// GETs `url`, with the server's reason and what to change in the configuration when it fails.
    private static func get(
        _ url: String,
        client: HTTPClient,
        configurationFile: String
    ) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(HTTPClientRequest(url: url), timeout: .minutes(10))
        } catch {
            if let advice = TLSTrust.advice(for: error, url: url, configurationFile: configurationFile) {
                throw DP5ServerError.unavailable("fetching \(url) failed: \(advice)")
            }
            throw DP5ServerError.unavailable("fetching \(url) failed: \(error)")
        }
        guard response.status == .ok else {
            let text =
                (try? await response.body.collect(upTo: 1024)).map {
                    String(decoding: $0.readableBytesView, as: UTF8.self)
                } ?? ""
            throw DP5ServerError.unavailable(
                "\(url) answered HTTP \(response.status.code)" + (text.isEmpty ? "" : ": \(text)")
            )
        }
        return response
    }

    static func download(
        _ url: String,
        client: HTTPClient,
        limit: Int,
        configurationFile: String
    ) async throws -> [UInt8] {
        let response = try await get(url, client: client, configurationFile: configurationFile)
        do {
            return Array(try await response.body.collect(upTo: max(limit, 1)).readableBytesView)
        } catch {
            throw DP5ServerError.corruptDatabase("\(url) sent more than the \(limit) bytes expected, or was cut off")
        }
    }

    /// Streams `url`'s body into a new file at `path` (synced), refusing more than `limit`
    /// bytes; returns the number written.
    private static func download(
        _ url: String,
        client: HTTPClient,
        limit: Int,
        into path: String,
        configurationFile: String
    ) async throws -> Int {
        let response = try await get(url, client: client, configurationFile: configurationFile)
        let file = try DurableFiles.StreamingFile(creating: path)
        var written = 0
        do {
            for try await buffer in response.body {
                written += buffer.readableBytes
                guard written <= limit else {
                    throw DP5ServerError.corruptDatabase("\(url) sent more than the \(limit) bytes its metadata gives")
                }
                try file.write(buffer.readableBytesView)
            }
            try file.syncAndClose()
        } catch {
            file.closeWithoutSync()
            throw error
        }
        return written
    }
}
