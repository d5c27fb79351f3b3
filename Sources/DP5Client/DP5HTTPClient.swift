public import AsyncHTTPClient
public import DP5Core
import Foundation
public import NIOCore
import NIOHTTP1

/// Talks to DP5 servers over HTTP(S), with the original's endpoints:
/// `GET /`, `POST /register/<E>/`, `POST /lookup/<E>/`, `GET /debugfastforward`.
///
/// ```swift
/// try await DP5HTTPClient.withClient(configuration: configuration) { client in
///     try await client.register(privateKey: me, buddies: buddies)
///     let result = try await client.lookup(privateKey: me, buddies: friends)
/// }
/// ```
public struct DP5HTTPClient: Sendable {
    /// The servers and parameters.
    public let configuration: ClientConfiguration
    private let http: HTTPClient
    /// How long one request may take.
    public var requestTimeout: TimeAmount = .seconds(60)

    /// Uses an existing HTTP client; the caller shuts it down.
    public init(configuration: ClientConfiguration, httpClient: HTTPClient) {
        self.configuration = configuration
        self.http = httpClient
    }

    /// Runs `body` with a client whose connections are shut down when it returns.
    ///
    /// - Parameters:
    ///   - connectionsPerServer: how many connections to keep to each server.
    ///   - connectTimeout: how long to keep trying to reach a server; a lookup server that is down
    ///     delays a lookup by this much before it counts as silent.
    public static func withClient<Result: Sendable>(
        configuration: ClientConfiguration,
        connectionsPerServer: Int = 8,
        connectTimeout: Duration = .seconds(5),
        _ body: (DP5HTTPClient) async throws -> Result
    ) async throws -> Result {
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: try configuration.trust.makeClientConfiguration()
        )
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, connectionsPerServer)
        httpConfiguration.timeout.connect = .nanoseconds(
            Int64(connectTimeout.components.seconds) * 1_000_000_000 + connectTimeout.components.attoseconds
                / 1_000_000_000
        )
        return try await HTTPClient.withHTTPClient(configuration: httpConfiguration) { http in
            try await body(DP5HTTPClient(configuration: configuration, httpClient: http))
        }
    }

    /// The registration server's `GET /`: its current epoch and whether it takes registrations.
    ///
    /// - Throws: ``DP5Core/DP5Error/Code/configurationMismatch`` if the server reports another
    ///   `epochLength` or `dataEncSize` than this client's configuration.
    public func registrationServerStatus() async throws -> (epoch: Epoch, acceptsRegistrations: Bool) {
        let status = try await registrationServerStatusDetails()
        return (status.epoch, status.acceptsRegistrations)
    }

    /// The registration server's `GET /` in full; `fastForward` is `nil` for a server that does
    /// not say (the original).
    public func registrationServerStatusDetails() async throws -> (
        epoch: Epoch, acceptsRegistrations: Bool, fastForward: Bool?
    ) {
        let url = configuration.registrationServer + "/"
        let body = try await send(url: url, method: .GET, body: nil, limit: 4096)
        struct Status: Decodable {
            let epoch: UInt32
            let register: Bool
            // Absent from the original's answer.
            let epochLength: UInt32?
            let dataEncSize: Int?
            let combined: Bool?
            let fastForward: Bool?
        }
        guard let status = try? JSONDecoder().decode(Status.self, from: Data(body)) else {
            throw DP5ClientError(url: url, "answered something other than {\"epoch\": …, \"register\": …}")
        }
        let mine = configuration.protocolConfiguration
        try mine.check(
            serverEpochLength: status.epochLength ?? mine.epochLength,
            dataEncSize: status.dataEncSize ?? mine.dataEncSize,
            combined: status.combined ?? mine.combined
        )
        return (Epoch(status.epoch), status.register, status.fastForward)
    }

    /// POSTs a registration message made during `currentEpoch`; returns the 5-byte reply.
    public func postRegistration(_ message: [UInt8], currentEpoch: Epoch) async throws -> [UInt8] {
        try await send(
            url: configuration.registrationServer + "/register/\(currentEpoch)/",
            method: .POST,
            body: message,
            limit: 64
        )
    }

    /// Registers `privateKey`'s user for the next epoch with `buddies`.
    ///
    /// - Returns: the epoch registered for.
    @discardableResult
    public func register(privateKey: DHPrivateKey, buddies: [BuddyRegistration]) async throws -> Epoch {
        let client = RegistrationClient(privateKey: privateKey, configuration: configuration.protocolConfiguration)
        return try await registerForNextEpoch { try client.registrationMessage(epoch: $0, buddies: buddies) }
    }

    /// Asks the registration server for its epoch, posts `message(next epoch)` and checks the
    /// reply: the one registration exchange both modes share.
    private func registerForNextEpoch(_ message: (Epoch) throws -> [UInt8]) async throws -> Epoch {
        let current = try await registrationServerStatus().epoch
        let reply = try await postRegistration(try message(current.next), currentEpoch: current)
        try RegistrationClient.verifyReply(reply, epoch: current.next)
        return current.next
    }

    /// Registers `privateKey`'s user with a combined-mode registration server for the next
    /// epoch: one record carrying `data` for every buddy who knows the BLS public key.
    ///
    /// - Returns: the epoch registered for.
    @discardableResult
    public func registerCombined(privateKey: BLSPrivateKey, data: [UInt8]) async throws -> Epoch {
        let client = CombinedRegistrationClient(
            privateKey: privateKey,
            configuration: configuration.protocolConfiguration
        )
        return try await registerForNextEpoch { try client.registrationMessage(epoch: $0, data: data) }
    }

    /// Looks `buddies` up by BLS public key in a combined-mode deployment.
    ///
    /// - Parameter epochHash: H_G2(E) prepared for the epoch, to share between lookups.
    public func lookupCombined(
        buddies: [BLSPublicKey],
        epoch requested: Epoch? = nil,
        epochHash: CombinedEpochHash? = nil
    ) async throws -> CombinedLookupResult {
        let epoch: Epoch
        if let given = requested {
            epoch = given
        } else {
            epoch = try await registrationServerStatus().epoch
        }
        return try await CombinedLookupClient().lookup(
            buddies: buddies,
            epoch: epoch,
            parameters: configuration.lookupParameters,
            expecting: configuration.protocolConfiguration,
            epochHash: epochHash
        ) { server, body, limit in
            try await postLookup(body, epoch: epoch, server: server, limit: limit)
        }
    }

    /// POSTs a lookup request for `epoch` to lookup server `server` and returns its reply body.
    ///
    /// - Parameter limit: the largest reply accepted.
    public func postLookup(_ body: [UInt8], epoch: Epoch, server: Int, limit: Int) async throws -> [UInt8] {
        try await send(
            url: configuration.lookupServers[server] + "/lookup/\(epoch)/",
            method: .POST,
            body: body,
            limit: limit
        )
    }

    /// Looks `buddies` up in `epoch`'s database (by default the registration server's current epoch).
    ///
    /// Lookup servers that fail to answer count as silent; the lookup succeeds while t + 1
    /// usable answers remain.
    public func lookup(
        privateKey: DHPrivateKey,
        buddies: [DHPublicKey],
        epoch requested: Epoch? = nil
    ) async throws -> LookupResult {
        let epoch: Epoch
        if let given = requested {
            epoch = given
        } else {
            epoch = try await registrationServerStatus().epoch
        }
        return try await LookupClient(privateKey: privateKey).lookup(
            buddies: buddies,
            epoch: epoch,
            parameters: configuration.lookupParameters,
            expecting: configuration.protocolConfiguration
        ) { server, body, limit in
            try await postLookup(body, epoch: epoch, server: server, limit: limit)
        }
    }

    /// The registration server's `GET /debugfastforward`: moves it one epoch on.
    ///
    /// - Returns: the epochs before and after, from the server's `Old: X New: Y`.
    public func fastForward() async throws -> (old: Epoch, new: Epoch) {
        let url = configuration.registrationServer + "/debugfastforward"
        let text = String(decoding: try await send(url: url, method: .GET, body: nil, limit: 256), as: UTF8.self)
        let numbers = text.split(whereSeparator: { !$0.isNumber }).compactMap { UInt32($0) }
        guard text.hasPrefix("Old:"), numbers.count == 2 else {
            throw DP5ClientError(url: url, "answered \"\(text.prefix(80))\", not \"Old: X New: Y\"")
        }
        return (Epoch(numbers[0]), Epoch(numbers[1]))
    }

    private func send(url: String, method: HTTPMethod, body: [UInt8]?, limit: Int) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: requestTimeout)
        } catch {
            if let advice = TLSTrust.advice(
                for: error,
                url: url,
                configurationFile: configuration.sourceFile ?? "servers.cfg"
            ) {
                throw DP5ClientError(url: url, advice)
            }
            throw DP5ClientError(url: url, "request failed: \(error)")
        }
        guard response.status == .ok else {
            // The server's reason (a refusal says what is wrong), at most a line or two of it.
            let text =
                (try? await response.body.collect(upTo: 4096)).map { Self.printableText($0.readableBytesView) } ?? ""
            throw DP5ClientError(
                url: url,
                "HTTP \(response.status.code)" + (text.isEmpty ? "" : ": \(text)"),
                status: Int(response.status.code)
            )
        }
        let buffer: ByteBuffer
        do {
            buffer = try await response.body.collect(upTo: limit)
        } catch {
            throw DP5ClientError(url: url, "reply larger than the \(limit) bytes expected, or cut off: \(error)")
        }
        return Array(buffer.readableBytesView)
    }

    /// A reply body as one line of text, if it is text: at most 500 characters.
    static func printableText(_ bytes: some Collection<UInt8>) -> String {
        guard let text = String(validating: Array(bytes.prefix(500)), as: UTF8.self) else { return "" }
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.allSatisfy({ !$0.isASCII || $0.asciiValue! >= 0x20 }) ? line : ""
    }
}

/// A request to a DP5 server that failed at the HTTP level.
public struct DP5ClientError: Error, CustomStringConvertible, Sendable {
    /// The URL requested.
    public let url: String
    /// The HTTP status, if the server answered.
    public let status: Int?
    /// What went wrong.
    public let message: String

    init(url: String, _ message: String, status: Int? = nil) {
        self.url = url
        self.message = message
        self.status = status
    }

    public var description: String { "\(url): \(message)" }
}
