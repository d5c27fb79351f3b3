public import DP5Core
import Foundation

/// A running DP5 deployment as the harness sees it: one registration server and some lookup
/// servers, reached however the deployment likes (in process, or over HTTPS).
public protocol DP5Deployment: Sendable {
    /// Number of lookup servers.
    var numberOfLookupServers: Int { get }
    /// The registration server's current epoch (its `GET /`).
    func currentEpoch() async throws -> Epoch
    /// Sends a registration message, made during `currentEpoch`, and returns the server's reply.
    func register(_ message: [UInt8], currentEpoch: Epoch) async throws -> [UInt8]
    /// Moves the registration server one epoch on and publishes the finished epoch's database
    /// (its `GET /debugfastforward`).
    func fastForward() async throws -> (old: Epoch, new: Epoch)
    /// POSTs a lookup request for `epoch` to lookup server `server` and returns its reply,
    /// accepting at most `limit` bytes.
    func lookup(_ body: [UInt8], epoch: Epoch, server: Int, limit: Int) async throws -> [UInt8]
    /// Whether the registration server will fast-forward; `nil` if it does not say.
    func allowsFastForward() async throws -> Bool?
}

/// A deployment held in memory: the protocol core's registration and lookup logic with no
/// network in between. `dp5 demo` and the tests use it; it has the same behaviour as the servers.
public actor InProcessDeployment: DP5Deployment {
    public nonisolated let numberOfLookupServers: Int
    private let configuration: DP5Configuration
    private let clock: any EpochClock
    private let processor: RegistrationProcessor
    private let combinedProcessor: CombinedRegistrationProcessor
    private var epochOffset: UInt32 = 0
    private var registrations: [Epoch: [UInt8]] = [:]
    private var responders: [Epoch: LookupResponder] = [:]

    /// Creates a deployment whose epochs follow `clock`.
    public init(configuration: DP5Configuration, numberOfLookupServers: Int, clock: any EpochClock = SystemEpochClock())
    {
        self.configuration = configuration
        self.numberOfLookupServers = numberOfLookupServers
        self.clock = clock
        self.processor = RegistrationProcessor(configuration: configuration)
        self.combinedProcessor = CombinedRegistrationProcessor(configuration: configuration)
    }

    private var epoch: Epoch { Epoch(configuration.currentEpoch(clock: clock).rawValue &+ epochOffset) }

    public func currentEpoch() -> Epoch { epoch }

    public func register(_ message: [UInt8], currentEpoch: Epoch) throws -> [UInt8] {
        // As a server's HTTP 403: a registration made in another epoch is refused outright.
        guard currentEpoch == epoch else {
            throw DeploymentRefusal(
                reason: "registration made in epoch \(currentEpoch), the server is in epoch \(epoch)"
            )
        }
        let outcome =
            configuration.combined
            ? combinedProcessor.process(message, nextEpoch: epoch.next).outcome
            : processor.process(message, nextEpoch: epoch.next)
        registrations[epoch.next, default: []].append(contentsOf: outcome.storedRecords)
        return outcome.reply.rawRepresentation
    }

    public func fastForward() throws -> (old: Epoch, new: Epoch) {
        let old = epoch
        epochOffset &+= 1
        let published = try EpochDatabase.build(
            records: registrations.removeValue(forKey: epoch) ?? [],
            epoch: epoch,
            configuration: configuration
        )
        responders[epoch] = try LookupResponder(metadata: published.metadata, data: .init(published.data))
        return (old, epoch)
    }

    public func allowsFastForward() -> Bool? { true }

    public func lookup(_ body: [UInt8], epoch requested: Epoch, server: Int, limit: Int) -> [UInt8] {
        guard let responder = responders[requested] else {
            let status =
                body.first == LookupRequest.pirOpcode ? LookupResponder.pirErrorStatus : LookupResponder.errorStatus
            return LookupResponder.errorReply(status: status, serverEpoch: epoch).bytes
        }
        return responder.respond(to: body).bytes
    }
}

/// A request an in-process deployment refuses, as a server would with HTTP 403.
public struct DeploymentRefusal: Error, CustomStringConvertible {
    /// Why.
    public let reason: String
    public var description: String { reason }
}
