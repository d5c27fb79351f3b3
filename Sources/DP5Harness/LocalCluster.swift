public import DP5Client
public import DP5Core
public import DP5Server
import Foundation
public import Logging
import NIOCore
import ServiceLifecycle

/// A registration server and lookup servers on 127.0.0.1, each on a free port, speaking HTTPS
/// with a freshly made self-signed certificate: `dp5 demo`'s deployment, and the live tests'.
public struct LocalCluster: Sendable {
    /// How the servers are reached, trusting exactly the cluster's certificate.
    public let clientConfiguration: ClientConfiguration
    /// Each server's configuration, registration server first.
    public let serverConfigurations: [ServerConfiguration]

    /// Starts the servers, runs `body`, and shuts them all down gracefully.
    ///
    /// - Parameters:
    ///   - directory: where the certificate, `regdir` and each `datadir` go.
    ///   - privacyLevel: defaults to one less than `lookupServers`.
    public static func run<Result: Sendable>(
        lookupServers: Int,
        privacyLevel: Int? = nil,
        protocolConfiguration: DP5Configuration = .default,
        directory: String,
        clock: any EpochClock = SystemEpochClock(),
        logger: Logger,
        _ body: @Sendable (LocalCluster) async throws -> Result
    ) async throws -> Result {
        let certificate = try SelfSignedCertificate.write(to: directory + "/certs")
        let trust = TLSTrust(trustCertificatePath: certificate.certificatePath)
        func configuration(_ name: String, registration: String?) throws -> ServerConfiguration {
            try ServerConfiguration(
                host: "127.0.0.1",
                port: 0,
                tls: certificate,
                isRegistrationServer: registration == nil,
                isLookupServer: registration != nil,
                registrationDirectory: directory + "/\(name)/regdir",
                dataDirectory: directory + "/\(name)/datadir",
                registrationServer: registration,
                protocolConfiguration: protocolConfiguration,
                allowDebugFastForward: true,
                trust: trust
            )
        }
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            // Each running server's group, and a stream that ends when the group has stopped.
            var running: [(group: ServiceGroup, stopped: AsyncStream<Int>.AsyncIterator)] = []
            func start(
                _ configuration: ServerConfiguration,
                label: String
            ) async throws -> (port: Int, configuration: ServerConfiguration) {
                let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                var serverLogger = logger
                serverLogger[metadataKey: "dp5.server"] = "\(label)"
                let server = DP5Service(configuration: configuration, clock: clock, logger: serverLogger) { address in
                    continuation.yield(address.port ?? 0)
                }
                let group = ServiceGroup(services: [server], logger: serverLogger)
                tasks.addTask {
                    defer { continuation.finish() }
                    try await group.run()
                }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else {
                    throw ConfigurationError(key: nil, "the \(label) server stopped before it was listening")
                }
                running.append((group, iterator))
                return (port, configuration)
            }
            // Lookup servers hold connections to the registration server, so they stop first;
            // the other way round the registration server waits out its TLS close timeout.
            func stopAll() async {
                for index in running.indices.reversed() {
                    await running[index].group.triggerGracefulShutdown()
                    _ = await running[index].stopped.next()
                }
            }
            do {
                let registration = try await start(
                    configuration("registration", registration: nil),
                    label: "registration"
                )
                let registrationURL = "https://127.0.0.1:\(registration.port)"
                var lookupURLs: [String] = []
                var configurations = [registration.configuration]
                for index in 0..<lookupServers {
                    let lookup = try await start(
                        configuration("lookup\(index)", registration: registrationURL),
                        label: "lookup\(index)"
                    )
                    lookupURLs.append("https://127.0.0.1:\(lookup.port)")
                    configurations.append(lookup.configuration)
                }
                let cluster = LocalCluster(
                    clientConfiguration: try ClientConfiguration(
                        registrationServer: registrationURL,
                        lookupServers: lookupURLs,
                        privacyLevel: privacyLevel,
                        protocolConfiguration: protocolConfiguration,
                        trust: trust
                    ),
                    serverConfigurations: configurations
                )
                let result = try await body(cluster)
                await stopAll()
                try await tasks.waitForAll()
                return result
            } catch {
                await stopAll()
                throw error
            }
        }
    }
}
