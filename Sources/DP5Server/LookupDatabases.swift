import CoreMetrics
import AsyncHTTPClient
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
/// `/download/<E>`), checked, and stored in `datadir` atomically before it is served; concurrent
/// requests for it share one fetch. A restarted server serves the verified files it already has.
actor LookupDatabases {
    private let configuration: DP5Configuration
    private let publications: PublicationDirectory
    private let source: DatabaseSource
    private let logger: Logger
    private let engine: PIREngine
    private let metrics: DP5Metrics
    private var served: [Epoch: ServedEpoch] = [:]
    private var fetches: [Epoch: Task<LookupResponder, any Error>] = [:]
    /// The largest data file accepted from a registration server.
    private let maximumDatabaseBytes = 1 << 40

    init(
        configuration: DP5Configuration, publications: PublicationDirectory, source: DatabaseSource, engine: PIREngine, logger: Logger,
        metrics: DP5Metrics = DP5Metrics()
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.engine = engine
        self.publications = publications
        self.source = source
        self.logger = logger
    }

    /// The newest epoch held.
    var newestEpoch: Epoch? { served.keys.max() }

    /// Whether `epoch`'s database is loaded and served (the health check's question).
    func isLoaded(_ epoch: Epoch) -> Bool { served[epoch] != nil }

    /// The responder for `epoch`, loading or fetching its database if needed.
    ///
    /// - Parameter onDemand: the epoch comes from a client's request, so the server fetches it
    ///   only if it is at most one past the newest it holds; clients cannot make it fetch arbitrary
    ///   epochs from the registration server.
    /// - Throws: ``DP5ServerError`` if the database does not exist (yet), is older than the
    ///   previous epoch, or fails verification.
    func responder(for epoch: Epoch, onDemand: Bool = false) async throws -> ServedEpoch {
        if let served = served[epoch] { return served }
        if let newest = newestEpoch, epoch < newest.previous {
            throw DP5ServerError.refused("epoch \(epoch) is older than the databases this server keeps")
        }
        if onDemand, let newest = newestEpoch, epoch > newest.next {
            throw DP5ServerError.refused("epoch \(epoch) is ahead of the registration server's")
        }
        let task = fetches[epoch] ?? Task { try await self.obtain(epoch) }
        fetches[epoch] = task
        defer { fetches[epoch] = nil }
        let responder = try await task.value
        return served[epoch] ?? install(responder)
    }

    /// Loads the newest verified databases already in `datadir` (after a restart).
    func loadExisting() {
        for epoch in publications.publishedEpochs().prefix(2) {
            do {
                if let responder = try publications.loadResponder(epoch, configuration: configuration) { install(responder) }
            } catch {
                logger.warning("Ignoring a stored database that fails verification", metadata: ["dp5.epoch": "\(epoch)", "error": "\(error)"])
            }
        }
    }

    @discardableResult
    private func install(_ responder: LookupResponder) -> ServedEpoch {
        let metrics = self.metrics
        let epoch = ServedEpoch(
            responder: responder,
            coalescer: PIRCoalescer(database: responder.database, engine: engine) { metrics.recordPass(queries: $0, duration: $1) }
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
        let metadataBytes = try await download(baseURL + "/download/\(epoch)/meta", client: client, limit: Metadata.byteCount)
        let metadata = try Metadata(rawRepresentation: metadataBytes)
        guard metadata.epoch == epoch else {
            throw DP5ServerError.corruptDatabase("registration server sent the metadata of epoch \(metadata.epoch) for \(epoch)")
        }
        try metadata.check(matches: configuration)
        let data = try await download(baseURL + "/download/\(epoch)", client: client, limit: min(metadata.dataFileSize, maximumDatabaseBytes))
        guard data.count == metadata.dataFileSize else {
            throw DP5ServerError.corruptDatabase("data file of epoch \(epoch) has \(data.count) bytes, its metadata says \(metadata.dataFileSize)")
        }
        try publications.publish(metadata: metadataBytes, data: data, epoch: epoch)
        logger.info("Fetched epoch database", metadata: ["dp5.epoch": "\(epoch)", "dp5.bytes": "\(data.count)"])
        return try LookupResponder(metadata: metadata, data: publications.mappedData(epoch))
    }

    private func download(_ url: String, client: HTTPClient, limit: Int) async throws -> [UInt8] {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .minutes(10))
        let body = try await response.body.collect(upTo: max(limit, 1))
        guard response.status == .ok else {
            throw DP5ServerError.unavailable("\(url) answered HTTP \(response.status.code)")
        }
        return Array(body.readableBytesView)
    }
}
