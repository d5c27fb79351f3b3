import DP5Core
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The original's HTTP endpoints (`dp5server.py`'s `RootServer`), path and query forms both.
///
/// | endpoint | method | answer |
/// | --- | --- | --- |
/// | `/` | GET | `{"epoch": E, "register": bool, "epochLength": …, "dataEncSize": …}` |
/// | `/register/<E>/`, `/register?epoch=<E>` | POST | 5-byte registration reply |
/// | `/lookup/<E>/`, `/lookup?epoch=<E>` | POST | lookup reply |
/// | `/download/<E>`, `/download/<E>/meta`, `/download/<E>?metadata=1` | GET | data or metadata file |
/// | `/debugfastforward` | GET | `Old: X New: Y` |
///
/// A wrong URL epoch, an epoch with no database, or a request for a role the server does not
/// have gets HTTP 403, as the original.
struct HTTPRoutes: Sendable {
    let configuration: ServerConfiguration
    let clock: any EpochClock
    let authority: RegistrationAuthority?
    let databases: LookupDatabases?
    let publications: PublicationDirectory
    let logger: Logger
    let metrics: DP5Metrics

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in try await status() }
        router.post("/register/:epoch") { request, context in
            try await register(request, epoch: context.parameters.get("epoch"))
        }
        router.post("/register") { request, _ in
            try await register(request, epoch: request.uri.queryParameters.get("epoch"))
        }
        router.post("/lookup/:epoch") { request, context in
            try await lookup(request, epoch: context.parameters.get("epoch"))
        }
        router.post("/lookup") { request, _ in
            try await lookup(request, epoch: request.uri.queryParameters.get("epoch"))
        }
        router.get("/download/:epoch") { request, context in
            try await download(
                epoch: context.parameters.get("epoch"),
                metadata: request.uri.queryParameters.get("metadata") == "1"
            )
        }
        router.get("/download/:epoch/meta") { _, context in
            try await download(epoch: context.parameters.get("epoch"), metadata: true)
        }
        router.get("/download") { request, _ in
            try await download(
                epoch: request.uri.queryParameters.get("epoch"),
                metadata: request.uri.queryParameters.get("metadata") == "1"
            )
        }
        router.get("/debugfastforward") { _, _ in try await fastForward() }
    }

    private func status() async throws -> Response {
        let epoch: Epoch
        if let authority {
            try await authority.publishDueEpochs()
            epoch = await authority.currentEpoch
        } else {
            epoch = configuration.protocolConfiguration.currentEpoch(clock: clock)
        }
        // The original answered epoch and register; the parameters let clients detect a mismatch
        // before they register (original clients ignore the extra keys).
        let parameters = configuration.protocolConfiguration
        var json =
            "{\"epoch\": \(epoch), \"register\": \(authority != nil), \"epochLength\": \(parameters.epochLength), \"dataEncSize\": \(parameters.dataEncSize), \"combined\": \(parameters.combined)"
        // Lets a harness find out before it registers anyone that the fast-forward it needs is off.
        if authority != nil { json += ", \"fastForward\": \(configuration.allowDebugFastForward)" }
        json += "}"
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: json))
        )
    }

    private func register(_ request: Request, epoch: String?) async throws -> Response {
        guard let authority else { return refusal("this server does not take registrations") }
        guard let epoch = Self.epoch(from: epoch) else {
            metrics.countRegistration("refused")
            return refusal("the URL carries no epoch")
        }
        let body = try await Self.bodyBytes(of: request, upTo: configuration.maxRequestBytes)
        do {
            let reply = try await authority.accept(body, urlEpoch: epoch)
            metrics.countRegistration(
                (try? RegistrationReply(rawRepresentation: reply)).map { $0.status.metricLabel } ?? "unknown"
            )
            return octetStream(reply)
        } catch let error as DP5ServerError {
            metrics.countRegistration("refused")
            return refusal(error.description)
        } catch {
            metrics.countRegistration("unavailable")
            // Not stored (a full disk, say), so not acknowledged: the client may try again.
            logger.error("Storing a registration failed", metadata: ["dp5.epoch": "\(epoch)", "error": "\(error)"])
            return Response(
                status: .serviceUnavailable,
                headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "the registration could not be stored; try again"))
            )
        }
    }

    private func lookup(_ request: Request, epoch: String?) async throws -> Response {
        guard let databases else { return refusal("this server does not answer lookups") }
        guard let epoch = Self.epoch(from: epoch) else { return refusal("the URL carries no epoch") }
        // A server in both roles publishes lazily too, so a lookup just after the boundary finds the epoch.
        if let authority { try await authority.publishDueEpochs() }
        let served: ServedEpoch
        do {
            served = try await databases.responder(for: epoch, onDemand: true)
        } catch {
            logger.debug("No database for a lookup", metadata: ["dp5.epoch": "\(epoch)", "error": "\(error)"])
            metrics.countLookup("refused")
            return refusal("no database for epoch \(epoch): \(error)")
        }
        // The database bounds what a request can need: a PIR request of 100 queries.
        let body = try await Self.bodyBytes(
            of: request,
            upTo: min(configuration.maxRequestBytes, served.responder.maximumRequestBytes)
        )
        guard let parsed = LookupRequest(rawRepresentation: body) else {
            metrics.countLookup("invalid")
            let reply = LookupResponder.errorReply(
                status: LookupResponder.errorStatus,
                serverEpoch: served.responder.epoch
            )
            return octetStream(reply.header)
        }
        switch parsed {
        case .metadata: metrics.countLookup("metadata")
        case .pir: metrics.countLookup("pir")
        case .download: metrics.countLookup("download")
        case .digest: metrics.countLookup("digest")
        }
        let reply = await served.responder.respond(to: parsed) { await served.coalescer.answer($0) }
        return octetStream(reply.header, then: reply.body)
    }

    private func download(epoch: String?, metadata: Bool) async throws -> Response {
        guard let epoch = Self.epoch(from: epoch) else { return refusal("the URL carries no epoch") }
        if let authority { try await authority.publishDueEpochs() }
        guard publications.isPublished(epoch) else { return refusal("no database for epoch \(epoch)") }
        metrics.countDownload(metadata ? "metadata" : "data")
        if metadata {
            guard let bytes = publications.metadataBytes(epoch) else {
                return refusal("no database for epoch \(epoch)")
            }
            return octetStream(bytes)
        }
        do {
            return octetStream([], then: try publications.mappedData(epoch))
        } catch {
            return refusal("no database for epoch \(epoch)")
        }
    }

    private func fastForward() async throws -> Response {
        guard configuration.allowDebugFastForward else {
            return refusal(
                "debug fast-forward is disabled: add \"allowDebugFastForward\": true to \(configuration.fileName) and restart the server"
            )
        }
        guard let authority else { return refusal("only a registration server fast-forwards") }
        let (old, new) = try await authority.fastForward()
        logger.info("Fast-forwarded", metadata: ["dp5.epoch.old": "\(old)", "dp5.epoch.new": "\(new)"])
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain"],
            body: .init(byteBuffer: ByteBuffer(string: "Old: \(old) New: \(new)"))
        )
    }

    /// A request's body as the bytes DP5Core parses, copied once out of NIO's buffers into an
    /// array sized by `Content-Length` (a 100-query lookup is 1.6 MB: collecting it into a
    /// growing buffer first and then copying that out cost three copies and fresh pages for
    /// each). Throws `NIOTooManyBytesError` (answered 413) past `limit`, before reading the
    /// body when `Content-Length` already says so.
    private static func bodyBytes(of request: Request, upTo limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        if let announced = request.headers[.contentLength].flatMap({ Int($0) }) {
            guard announced <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
            bytes.reserveCapacity(min(announced, largestReservation))
        }
        for try await part in request.body {
            guard part.readableBytes <= limit - bytes.count else { throw NIOTooManyBytesError(maxBytes: limit) }
            bytes.append(contentsOf: part.readableBytesView)
        }
        return bytes
    }

    /// The most a body's announced length reserves before its bytes arrive (a 100-query lookup
    /// of a 256 MiB database is 1.6 MB), so a client that announces more than it sends holds
    /// no more than this.
    private static let largestReservation = 4 << 20

    private static func epoch(from text: String?) -> Epoch? {
        guard let text, let value = UInt32(text) else { return nil }
        return Epoch(value)
    }

    private func refusal(_ reason: String) -> Response {
        Response(
            status: .forbidden,
            headers: [.contentType: "text/plain"],
            body: .init(byteBuffer: ByteBuffer(string: reason))
        )
    }

    /// `header ‖ body` as `application/octet-stream`: PIR answers (at most 100 buckets) in one
    /// buffer with the head, other bytes as the `Data` form below sends them.
    private func octetStream(_ header: [UInt8], then body: LookupReply.Body) -> Response {
        switch body {
        case .answers(let answers): octetStreamInOneBuffer(header, answers)
        case .data(let data): octetStream(header, then: data)
        }
    }

    /// `header ‖ body` as `application/octet-stream`; a large body (a whole data file) is sent in
    /// slices so it is never copied whole.
    private func octetStream(_ header: [UInt8], then body: Data = Data()) -> Response {
        let length = header.count + body.count
        let slice = 1 << 20
        guard body.count > slice else { return octetStreamInOneBuffer(header, body) }
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream"],
            body: ResponseBody(contentLength: length) { writer in
                if !header.isEmpty { try await writer.write(ByteBuffer(bytes: header)) }
                var offset = 0
                while offset < body.count {
                    let end = min(offset + slice, body.count)
                    try await writer.write(
                        ByteBuffer(bytes: body[(body.startIndex + offset)..<(body.startIndex + end)])
                    )
                    offset = end
                }
                try await writer.finish(nil)
            }
        )
    }

    /// One buffer given whole: the response's head, the reply and its end reach the socket in one
    /// write, so the client wakes once for it. (A streamed body has its head written and flushed
    /// first, the reply after it: two writes, and a wake-up of the client's event loop for each.)
    private func octetStreamInOneBuffer(_ header: [UInt8], _ body: some Collection<UInt8>) -> Response {
        var buffer = ByteBufferAllocator().buffer(capacity: header.count + body.count)
        buffer.writeBytes(header)
        buffer.writeBytes(body)
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream"],
            body: .init(byteBuffer: buffer)
        )
    }
}
