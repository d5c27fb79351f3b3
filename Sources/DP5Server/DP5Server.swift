public import DP5Core
import CoreMetrics
import AsyncHTTPClient
import DP5Client
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import NIOCore
import NIOSSL
public import ServiceLifecycle
import ServerOperations

/// A DP5 server: a registration server, a lookup server, or both, as its configuration says.
///
/// Run it in a `ServiceGroup`; it stops cleanly on graceful shutdown. `dp5 server CONFIG` is this
/// plus signal handling.
public struct DP5Server: Service {
    /// The configuration.
    public let configuration: ServerConfiguration
    private let clock: any EpochClock
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) async -> Void
    /// The server's metrics, served at `/metrics`.
    public let metrics: DP5Metrics

    /// Creates a server.
    ///
    /// - Parameters:
    ///   - clock: wall-clock time for epochs; tests inject a fixed one.
    ///   - onListening: called with the bound address once the server accepts connections
    ///     (tests bind port 0 and learn the port here).
    public init(
        configuration: ServerConfiguration,
        clock: any EpochClock = SystemEpochClock(),
        logger: Logger,
        metrics: DP5Metrics = DP5Metrics(),
        onListening: @escaping @Sendable (SocketAddress) async -> Void = { _ in }
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        try DurableFiles.createDirectory(configuration.dataDirectory)
        if configuration.isRegistrationServer { try DurableFiles.createDirectory(configuration.registrationDirectory) }
        var httpConfiguration = HTTPClient.Configuration(tlsConfiguration: try configuration.trust.makeClientConfiguration())
        httpConfiguration.timeout.connect = .seconds(10)
        try await HTTPClient.withHTTPClient(configuration: httpConfiguration) { client in
            try await makeApplication(client: client).run()
        }
        logger.info("Stopped")
    }

    private func makeApplication(client: HTTPClient) throws -> some ApplicationProtocol {
        let protocolConfiguration = configuration.protocolConfiguration
        let publications = PublicationDirectory(path: configuration.dataDirectory)
        var services: [any Service] = []

        var authority: RegistrationAuthority?
        if configuration.isRegistrationServer {
            let registrations = RegistrationAuthority(
                configuration: protocolConfiguration, clock: clock,
                registrationDirectory: configuration.registrationDirectory, publications: publications, logger: logger, metrics: metrics
            )
            authority = registrations
            services.append(EpochRolloverService(authority: registrations, logger: logger))
        }
        var databases: LookupDatabases?
        if configuration.isLookupServer {
            let source: DatabaseSource
            if configuration.isRegistrationServer {
                source = .local
            } else {
                source = .remote(baseURL: configuration.registrationServer!, client: client)
            }
            let lookups = LookupDatabases(
                configuration: protocolConfiguration, publications: publications, source: source,
                engine: PIREngine(threads: configuration.pirThreads), logger: logger, metrics: metrics
            )
            databases = lookups
            if case .remote(let baseURL, _) = source {
                services.append(DatabasePollService(
                    databases: lookups, registrationServer: baseURL, client: client,
                    interval: min(5, Double(protocolConfiguration.epochLength) / 4), logger: logger
                ))
            }
        }

        let router = Router()
        HTTPRoutes(
            configuration: configuration, clock: clock, authority: authority, databases: databases,
            publications: publications, logger: logger, metrics: metrics
        ).register(on: router)
        let listening = ReadyFlag()
        monitoringEndpoints(authority: authority, databases: databases, listening: listening).register(on: router)

        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            server = try .tls(.http1(), tlsConfiguration: Self.serverTLS(certificatePath: tls.certificatePath, privateKeyPath: tls.privateKeyPath))
        } else {
            server = .http1()
        }
        let onListening = self.onListening
        let logger = self.logger
        let roles = [configuration.isRegistrationServer ? "registration" : nil, configuration.isLookupServer ? "lookup" : nil].compactMap { $0 }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "dp5"),
            services: services,
            onServerRunning: { channel in
                listening.raise()
                if let address = channel.localAddress {
                    logger.info("Listening", metadata: ["dp5.address": "\(address)", "dp5.roles": "\(roles.joined(separator: "+"))",
                                                        "dp5.tls": "\(configuration.tls != nil)", "dp5.pirKernel": "\(PIREngine.Kernel.best)",
                                                        "dp5.pirThreads": "\(configuration.pirThreads)"])
                    await onListening(address)
                }
            },
            logger: logger
        )
    }

    /// `/metrics` and `/healthz`: healthy once the HTTP listener is up and, for a lookup server,
    /// the current epoch's database is loaded.
    private func monitoringEndpoints(authority: RegistrationAuthority?, databases: LookupDatabases?, listening: ReadyFlag) -> MonitoringEndpoints {
        let metrics = self.metrics, configuration = self.configuration, clock = self.clock
        @Sendable func currentEpoch() async -> Epoch {
            if let authority { await authority.currentEpoch } else { configuration.protocolConfiguration.currentEpoch(clock: clock) }
        }
        return MonitoringEndpoints(
            registry: metrics.registry,
            refresh: { metrics.currentEpoch.record(Int((await currentEpoch()).rawValue)) },
            checks: {
                var checks = [HealthCheck(name: "listener.http", passing: listening.isRaised, detail: "port \(configuration.port)")]
                if let databases {
                    let epoch = await currentEpoch()
                    if authority != nil {
                        // A server in both roles publishes and loads the epoch on first use.
                        _ = try? await authority?.publishDueEpochs()
                        _ = try? await databases.responder(for: epoch)
                    }
                    let loaded = await databases.isLoaded(epoch)
                    checks.append(HealthCheck(name: "database.epoch", passing: loaded, detail: "epoch \(epoch) \(loaded ? "loaded" : "not loaded")"))
                }
                return checks
            }
        )
    }

    static func serverTLS(certificatePath: String, privateKeyPath: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw ConfigurationError(key: "server.ssl_certificate", "cannot load a PEM certificate from \(certificatePath): \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        } catch {
            throw ConfigurationError(key: "server.ssl_private_key", "cannot load a PEM private key from \(privateKeyPath): \(error)")
        }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}
