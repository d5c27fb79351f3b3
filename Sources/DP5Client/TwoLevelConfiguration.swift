import DP5Core

/// The two-level client's configuration: a standard deployment with long epochs, whose records
/// carry each user's BLS public key to their buddies, and a combined deployment with short
/// epochs that says who is online now.
///
/// ```json
/// { "standardDeployment": { "regServer": "localhost:8443", "lookupServers": [...], "epochLength": 86400, "dataEncSize": 64 },
///   "combinedDeployment": { "regServer": "localhost:9443", "lookupServers": [...], "epochLength": 300, "combined": true } }
/// ```
///
/// Each nested object is a whole `servers.cfg`. The standard deployment's `dataEncSize` must
/// leave room for the 48-byte key (at least 64); the combined one must set `"combined": true`.
public struct TwoLevelConfiguration: Sendable {
    /// The standard (key-distribution) deployment.
    public var standard: ClientConfiguration
    /// The combined (presence) deployment.
    public var combined: ClientConfiguration

    /// Checks and combines two deployments' configurations.
    public init(standard: ClientConfiguration, combined: ClientConfiguration) throws {
        guard !standard.protocolConfiguration.combined else {
            throw ConfigurationError(key: "standardDeployment.combined", "the standard deployment must not be combined")
        }
        guard standard.protocolConfiguration.dataPlainSize >= CombinedParameters.publicKeyBytes else {
            throw ConfigurationError(
                key: "standardDeployment.dataEncSize",
                "must be at least \(CombinedParameters.publicKeyBytes + 16) so a record carries a 48-byte BLS public key"
            )
        }
        guard combined.protocolConfiguration.combined else {
            throw ConfigurationError(
                key: "combinedDeployment.combined",
                "the combined deployment needs \"combined\": true"
            )
        }
        self.standard = standard
        self.combined = combined
    }

    /// Reads a two-level configuration file.
    public init(contentsOfFile path: String) throws {
        var object = try ConfigurationObject(contentsOfFile: path)
        guard var standardObject = try object.object("standardDeployment") else {
            throw ConfigurationError(
                key: "standardDeployment",
                "is required: the standard deployment's servers.cfg keys"
            )
        }
        guard var combinedObject = try object.object("combinedDeployment") else {
            throw ConfigurationError(
                key: "combinedDeployment",
                "is required: the combined deployment's servers.cfg keys"
            )
        }
        try object.rejectUnreadKeys()
        var standard = try ClientConfiguration(reading: &standardObject)
        var combined = try ClientConfiguration(reading: &combinedObject)
        standard.sourceFile = path
        combined.sourceFile = path
        try self.init(standard: standard, combined: combined)
    }
}
