/// What a registrant tells one buddy for the next epoch.
public struct BuddyRegistration: Sendable, Hashable {
    /// The buddy's long-term public key.
    public var publicKey: DHPublicKey
    /// The data the buddy will see, exactly `dataEncSize - 16` bytes.
    public var data: [UInt8]

    /// Creates a registration entry for one buddy.
    public init(publicKey: DHPublicKey, data: [UInt8]) {
        self.publicKey = publicKey
        self.data = data
    }
}

/// Builds standard-mode registration messages and checks the server's reply.
///
/// A message is `E ‖ 100 records`, each record `K ‖ GCM(DK, data, AAD = E ‖ buddy ‖ K)`, padded
/// with random records to exactly 100 and sorted as unsigned byte strings, so the registration
/// server learns nothing about the number of buddies.
public struct RegistrationClient: Sendable {
    /// The registrant's key.
    public let privateKey: DHPrivateKey
    /// The deployment's parameters.
    public let configuration: DP5Configuration

    /// Creates a registration client for one user.
    public init(privateKey: DHPrivateKey, configuration: DP5Configuration) {
        self.privateKey = privateKey
        self.configuration = configuration
    }

    /// The registration message for `epoch` (the epoch after the current one).
    ///
    /// Random bytes are drawn only for the padding records, record by record.
    ///
    /// - Throws: ``DP5Error/Code/tooManyBuddies`` (original code 0x01),
    ///   ``DP5Error/Code/wrongDataLength`` (0x02), ``DP5Error/Code/invalidKey`` for a buddy key
    ///   that gives no Diffie-Hellman secret.
    public func registrationMessage(
        epoch: Epoch,
        buddies: [BuddyRegistration],
        using generator: inout some RandomNumberGenerator
    ) throws -> [UInt8] {
        guard buddies.count <= DP5Parameters.maximumBuddies else {
            throw DP5Error(
                .tooManyBuddies,
                "\(buddies.count) buddies, at most \(DP5Parameters.maximumBuddies)",
                originalCode: 0x01
            )
        }
        var records: [[UInt8]] = []
        records.reserveCapacity(DP5Parameters.maximumBuddies)
        for buddy in buddies {
            guard buddy.data.count == configuration.dataPlainSize else {
                throw DP5Error(
                    .wrongDataLength,
                    "buddy data must be \(configuration.dataPlainSize) bytes, got \(buddy.data.count)",
                    originalCode: 0x02
                )
            }
            let secret = try privateKey.sharedSecret(with: buddy.publicKey)
            let keys = KeyDerivation.pairwiseKeys(epoch: epoch, registrant: privateKey.publicKey, sharedSecret: secret)
            let aad = epoch.wireBytes + buddy.publicKey.rawRepresentation + keys.sharedKey
            records.append(keys.sharedKey + DataCipher.seal(buddy.data, key: keys.dataKey, authenticating: aad))
        }
        var random = RandomBytes()
        while records.count < DP5Parameters.maximumBuddies {
            records.append(random.bytes(configuration.recordSize, using: &generator))
        }
        records.sort { $0.lexicographicallyPrecedes($1) }
        var message = epoch.wireBytes
        message.reserveCapacity(4 + records.count * configuration.recordSize)
        for record in records { message.append(contentsOf: record) }
        return message
    }

    /// The registration message for `epoch`, padded from a cryptographically secure generator.
    public func registrationMessage(epoch: Epoch, buddies: [BuddyRegistration]) throws -> [UInt8] {
        var generator = SecureRandomNumberGenerator()
        return try registrationMessage(epoch: epoch, buddies: buddies, using: &generator)
    }

    /// Checks the registration server's reply to a message for `epoch`.
    ///
    /// - Throws: ``DP5Error/Code/malformedRegistrationReply`` (original code 0xFE) if the reply is
    ///   not 5 bytes, ``DP5Error/Code/registrationRejected`` (the server's status) if the server
    ///   refused, ``DP5Error/Code/registrationEpochMismatch`` (0xFD) if the server registers for
    ///   another epoch.
    public static func verifyReply(_ reply: [UInt8], epoch: Epoch) throws {
        let parsed = try RegistrationReply(rawRepresentation: reply)
        guard parsed.status == .accepted else {
            throw DP5Error(
                .registrationRejected,
                "registration server refused: \(parsed.status) (server registers for epoch \(parsed.epoch))",
                originalCode: parsed.status.rawValue
            )
        }
        guard parsed.epoch == epoch else {
            throw DP5Error(
                .registrationEpochMismatch,
                "registration server registers for epoch \(parsed.epoch), not \(epoch)",
                originalCode: 0xFD
            )
        }
    }
}
