public import DP5Client
public import DP5Core

/// A deployment reached over HTTP(S) with ``DP5HTTPClient``: real servers, as `dp5 client` and
/// `dp5 demo` drive them.
public struct HTTPDeployment: DP5Deployment {
    /// The client used for every request.
    public let client: DP5HTTPClient
    /// Creates a deployment over `client`.
    public init(client: DP5HTTPClient) {
        self.client = client
    }

    public var numberOfLookupServers: Int { client.configuration.lookupServers.count }

    public func currentEpoch() async throws -> Epoch {
        try await client.registrationServerStatus().epoch
    }

    public func register(_ message: [UInt8], currentEpoch: Epoch) async throws -> [UInt8] {
        try await client.postRegistration(message, currentEpoch: currentEpoch)
    }

    public func fastForward() async throws -> (old: Epoch, new: Epoch) {
        try await client.fastForward()
    }

    public func lookup(_ body: [UInt8], epoch: Epoch, server: Int, limit: Int) async throws -> [UInt8] {
        try await client.postLookup(body, epoch: epoch, server: server, limit: limit)
    }

    public func allowsFastForward() async throws -> Bool? {
        try await client.registrationServerStatusDetails().fastForward
    }
}
