/// An error from the DP5 protocol core.
///
/// Errors compare equal when their ``code`` is equal; ``reason`` and ``servers`` carry the
/// diagnostics. Where the original C++ implementation had a numeric error code for the same
/// condition, ``originalCode`` gives it, so logs can be matched against the original's.
public struct DP5Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, in a form that is safe to switch over and to use as a metric label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidConfiguration, invalidKey, tooManyBuddies, wrongDataLength
            case malformedRegistrationReply, registrationRejected, registrationEpochMismatch
            case malformedRegistrationStore, databaseTooLarge
            case malformedMetadata, metadataEpochMismatch, metadataRefused
            case malformedLookupReply, lookupRefused, lookupEpochMismatch
            case notEnoughReplies, inconsistentReplies, inconsistentMetadata, malformedDatabase, configurationMismatch
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A configuration value is out of range.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A key has the wrong length or is unusable for Diffie-Hellman.
        public static let invalidKey = Code(.invalidKey)
        /// More than ``DP5Parameters/maximumBuddies`` buddies were given.
        public static let tooManyBuddies = Code(.tooManyBuddies)
        /// A buddy's data is not exactly `dataEncSize - 16` bytes.
        public static let wrongDataLength = Code(.wrongDataLength)
        /// The registration server's reply is not 5 bytes.
        public static let malformedRegistrationReply = Code(.malformedRegistrationReply)
        /// The registration server answered with a non-zero status.
        public static let registrationRejected = Code(.registrationRejected)
        /// The registration server is registering for a different epoch.
        public static let registrationEpochMismatch = Code(.registrationEpochMismatch)
        /// Stored registration records are not a whole number of records.
        public static let malformedRegistrationStore = Code(.malformedRegistrationStore)
        /// A database would exceed the 32-bit fields of the metadata format.
        public static let databaseTooLarge = Code(.databaseTooLarge)
        /// A metadata file or reply cannot be parsed.
        public static let malformedMetadata = Code(.malformedMetadata)
        /// The metadata is for another epoch than the one asked for.
        public static let metadataEpochMismatch = Code(.metadataEpochMismatch)
        /// The lookup server refused the metadata request.
        public static let metadataRefused = Code(.metadataRefused)
        /// A lookup reply is truncated or has the wrong shape.
        public static let malformedLookupReply = Code(.malformedLookupReply)
        /// A lookup server answered with an error byte.
        public static let lookupRefused = Code(.lookupRefused)
        /// A lookup reply is for another epoch.
        public static let lookupEpochMismatch = Code(.lookupEpochMismatch)
        /// Fewer than t + 1 usable PIR replies arrived, or no download reply.
        public static let notEnoughReplies = Code(.notEnoughReplies)
        /// The PIR replies disagree and no answer is supported by enough servers.
        public static let inconsistentReplies = Code(.inconsistentReplies)
        /// Lookup servers sent different metadata for the same epoch: at least one of them lies.
        public static let inconsistentMetadata = Code(.inconsistentMetadata)
        /// A database file does not match its metadata.
        public static let malformedDatabase = Code(.malformedDatabase)
        /// The servers use another `epochLength` or `dataEncSize` than the client's configuration.
        public static let configurationMismatch = Code(.configurationMismatch)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable explanation. Never contains keys or user data.
    public let reason: String
    /// The lookup servers (indices into the request's server list) this error concerns, if any.
    public let servers: [Int]
    /// The original implementation's error code for the same condition, if it had one.
    public let originalCode: UInt8?

    /// Creates an error.
    public init(_ code: Code, _ reason: String, servers: [Int] = [], originalCode: UInt8? = nil) {
        self.code = code
        self.reason = reason
        self.servers = servers
        self.originalCode = originalCode
    }

    public static func == (lhs: DP5Error, rhs: DP5Error) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String {
        var text = "DP5Error.\(code): \(reason)"
        if !servers.isEmpty { text += " (servers \(servers.map(String.init).joined(separator: ", ")))" }
        return text
    }
}
