import AsyncHTTPClient
import CoreMetrics
import DP5Client
public import DP5Core
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import NIOCore
import NIOSSL
import ServerOperations
public import ServiceLifecycle

/// A DP5 server: a registration server, a lookup server, or both, as its configuration says.
///
/// Run it in a `ServiceGroup`; it stops cleanly on graceful shutdown. `dp5 server CONFIG` is this
/// plus signal handling.
public struct DP5Service: Service {
    /// The configuration.
    public let configuration: ServerConfiguration
    private let clock: any EpochClock
    private let timer: any Clock<Duration>
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) async -> Void
    /// The server's metrics, served at `/metrics`.
    public let metrics: DP5Metrics

    /// Creates a server.
    ///
    /// - Parameters:
    ///   - clock: wall-clock time for epochs; tests inject a fixed one.
    ///   - timer: what the epoch timer and the database poll wait on.
    ///   - onListening: called with the bound address once the server accepts connections
    ///     (tests bind port 0 and learn the port here).
    public init(
        configuration: ServerConfiguration,
        clock: any EpochClock = SystemEpochClock(),
        timer: any Clock<Duration> = ContinuousClock(),
        logger: Logger,
        metrics: DP5Metrics = DP5Metrics(),
        onListening: @escaping @Sendable (SocketAddress) async -> Void = { _ in }
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.clock = clock
        self.timer = timer
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        try DurableFiles.createDirectory(configuration.dataDirectory)
        if configuration.isRegistrationServer { try DurableFiles.createDirectory(configuration.registrationDirectory) }
        // Two servers writing one directory would race on its files; the second one is refused.
        // One directory may serve as both (its files' names differ); it is locked once.
        var locks = [
            try DirectoryLock(
                directory: configuration.dataDirectory,
                key: "datadir",
                configurationFile: configuration.fileName
            )
        ]
        if configuration.isRegistrationServer,
            !DirectoryLock.sameDirectory(configuration.registrationDirectory, configuration.dataDirectory)
        {
            locks.append(
                try DirectoryLock(
                    directory: configuration.registrationDirectory,
                    key: "regdir",
                    configurationFile: configuration.fileName
                )
            )
        }
        defer { withExtendedLifetime(locks) {} }
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: try configuration.trust.makeClientConfiguration()
        )
        httpConfiguration.timeout.connect = .seconds(5)
        // A failing fetch (an untrusted certificate, say) fails at once; the poll retries it, so a
        // lookup does not wait out the connect timeout for each attempt.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        try await HTTPClient.withHTTPClient(configuration: httpConfiguration) { client in
            let passes = PIRThreadPool(threads: configuration.pirThreads)
            var databases: LookupDatabases?
            do {
                let application: any ApplicationProtocol
                (application, databases) = try makeApplication(client: client, passes: passes)
                try await application.run()
            } catch {
                await databases?.finishFetches()
                await passes.shutdown()
                throw error
            }
            // A fetch started for a request runs in its own task; it must end before the HTTP
            // client shuts down and before the process may exit, or it would still be touching
            // files and memory the exiting process tears down. Passes end before their threads.
            await databases?.finishFetches()
            await passes.shutdown()
        }
        logger.info("Stopped")
    }

    private func makeApplication(
        client: HTTPClient,
        passes: PIRThreadPool
    ) throws -> (some ApplicationProtocol, LookupDatabases?) {
        let protocolConfiguration = configuration.protocolConfiguration
        let publications = PublicationDirectory(path: configuration.dataDirectory)
        var services: [any Service] = []

        var authority: RegistrationAuthority?
        if configuration.isRegistrationServer {
            let registrations = try RegistrationAuthority(
                configuration: protocolConfiguration,
                clock: clock,
                registrationDirectory: configuration.registrationDirectory,
                publications: publications,
                keptEpochs: configuration.keptEpochs,
                logger: logger,
                metrics: metrics
            )
            authority = registrations
            services.append(EpochRolloverService(authority: registrations, timer: timer, logger: logger))
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
                configuration: protocolConfiguration,
                publications: publications,
                source: source,
                engine: PIREngine(threads: configuration.pirThreads, workers: passes),
                configurationFile: configuration.fileName,
                logger: logger,
                metrics: metrics
            )
            databases = lookups
            if case .remote(let baseURL, _) = source {
                services.append(
                    DatabasePollService(
                        databases: lookups,
                        registrationServer: baseURL,
                        client: client,
                        interval: min(5, Double(protocolConfiguration.epochLength) / 4),
                        configurationFile: configuration.fileName,
                        timer: timer,
                        logger: logger
                    )
                )
            }
        }

        let router = Router()
        HTTPRoutes(
            configuration: configuration,
            clock: clock,
            authority: authority,
            databases: databases,
            publications: publications,
            logger: logger,
            metrics: metrics
        ).register(on: router)
        let listening = ReadyFlag()
        monitoringEndpoints(authority: authority, databases: databases, listening: listening).register(on: router)

        // Connection limit, per-request deadline, and idle timeout: a flood of connections, or
        // connections that never finish a request, cannot hold the server's resources for ever.
        // A lookup server's requests are handled on their connections' event loops: what a lookup
        // does there is parse, hand the pass to the PIR threads and write the reply (an epoch's
        // database loads in a task of its own), and it saves the wake-ups of a pool thread that
        // were most of a short request's time. A registration server's handlers write and fsync
        // files and check signatures, so they stay on Swift's pool.
        let http1 = HTTPServerBuilder.guardedHTTP1(
            maximumConnections: configuration.maximumConnections,
            idleTimeout: .nanoseconds(Int64(configuration.idleTimeout * 1e9)),
            requestTimeout: .nanoseconds(Int64(configuration.requestTimeout * 1e9)),
            handlingOnEventLoop: !configuration.isRegistrationServer
        )
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            server = try .tls(
                http1,
                tlsConfiguration: Self.serverTLS(
                    certificatePath: tls.certificatePath,
                    privateKeyPath: tls.privateKeyPath
                )
            )
        } else {
            server = http1
        }
        let onListening = self.onListening
        let logger = self.logger
        let roles = [
            configuration.isRegistrationServer ? "registration" : nil, configuration.isLookupServer ? "lookup" : nil,
        ].compactMap { $0 }
        let application = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "dp5"),
            services: services,
            onServerRunning: { channel in
                listening.raise()
                if let address = channel.localAddress {
                    logger.info(
                        "Listening",
                        metadata: [
                            "dp5.address": "\(address)", "dp5.roles": "\(roles.joined(separator: "+"))",
                            "dp5.tls": "\(configuration.tls != nil)", "dp5.pirKernel": "\(PIREngine.Kernel.best)",
                            "dp5.pirThreads": "\(configuration.pirThreads)",
                        ]
                    )
                    await onListening(address)
                }
            },
            logger: logger
        )
        return (application, databases)
    }

    /// `/metrics` and `/healthz`: healthy once the HTTP listener is up and, for a lookup server,
    /// the current epoch's database is loaded. A lookup server's current epoch is the one its
    /// registration server last announced (which a fast-forward moves), else its clock's; while
    /// it fetches a new epoch's database it stays healthy on the previous one, which it serves.
    private func monitoringEndpoints(
        authority: RegistrationAuthority?,
        databases: LookupDatabases?,
        listening: ReadyFlag
    ) -> MonitoringEndpoints {
        let metrics = self.metrics
        let configuration = self.configuration
        let clock = self.clock
        @Sendable func currentEpoch() async -> Epoch {
            if let authority {
                await authority.currentEpoch
            } else {
                configuration.protocolConfiguration.currentEpoch(clock: clock)
            }
        }
        return MonitoringEndpoints(
            registry: metrics.registry,
            refresh: { metrics.currentEpoch.record(Int((await currentEpoch()).rawValue)) },
            checks: {
                var checks = [
                    HealthCheck(
                        name: "listener.http",
                        passing: listening.isRaised,
                        detail: "port \(configuration.port)"
                    )
                ]
                if let databases {
                    let loaded: Bool
                    let epoch: Epoch
                    if authority != nil {
                        // A server in both roles publishes and loads the epoch on first use.
                        epoch = await currentEpoch()
                        _ = try? await authority?.publishDueEpochs()
                        _ = try? await databases.responder(for: epoch)
                        loaded = await databases.isLoaded(epoch)
                    } else {
                        if let announced = await databases.lastAnnouncedEpoch {
                            epoch = announced
                        } else {
                            epoch = await currentEpoch()
                        }
                        let current = await databases.isLoaded(epoch)
                        let previous = await databases.isLoaded(epoch.previous)
                        loaded = current || previous
                    }
                    checks.append(
                        HealthCheck(
                            name: "database.epoch",
                            passing: loaded,
                            detail: "epoch \(epoch) \(loaded ? "loaded" : "not loaded")"
                        )
                    )
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
            throw ConfigurationError(
                key: "server.ssl_certificate",
                "cannot load a PEM certificate from \(certificatePath) (\(error)); "
                    + "`dp5 testcert \((certificatePath as NSString).deletingLastPathComponent)` makes a self-signed one"
            )
        }
        do {
            key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        } catch {
            throw ConfigurationError(
                key: "server.ssl_private_key",
                "cannot load a PEM private key from \(privateKeyPath) (\(error)); "
                    + "`dp5 testcert \((privateKeyPath as NSString).deletingLastPathComponent)` makes one with its certificate"
            )
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
    }
}
