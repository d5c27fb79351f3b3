/// The registration server's handling of one message: check it, then turn each record
/// `K ‖ ED` into the stored form `H3(E, K) ‖ ED`.
///
/// Pure logic: the caller stores ``RegistrationOutcome/storedRecords`` (durably) before it sends
/// ``RegistrationOutcome/reply``.
public struct RegistrationProcessor: Sendable {
    /// The deployment's parameters.
    public let configuration: DP5Configuration

    /// Creates a processor.
    public init(configuration: DP5Configuration) {
        self.configuration = configuration
    }

    /// Checks `message` against the server's next epoch and hashes its records.
    ///
    /// Statuses, as the original: 0x01 if shorter than 4 bytes, 0x02 if the epoch is not
    /// `nextEpoch`, 0x03 if the body is not a whole number of records. Beyond the original, more
    /// than 100 records also get 0x03: a standard client always sends exactly 100, and more
    /// would let one client inflate every lookup's cost.
    public func process(_ message: [UInt8], nextEpoch: Epoch) -> RegistrationOutcome {
        func refuse(_ status: RegistrationReply.Status) -> RegistrationOutcome {
            RegistrationOutcome(reply: RegistrationReply(status: status, epoch: nextEpoch), storedRecords: [])
        }
        guard let epoch = Epoch(wireBytes: message) else { return refuse(.messageTooShort) }
        guard epoch == nextEpoch else { return refuse(.wrongEpoch) }
        let recordSize = configuration.recordSize
        let body = message.count - 4
        guard body % recordSize == 0, body / recordSize <= DP5Parameters.maximumBuddies else {
            return refuse(.malformedRecords)
        }
        var stored: [UInt8] = []
        stored.reserveCapacity(body)
        for start in stride(from: 4, to: message.count, by: recordSize) {
            let sharedKey = message[start..<(start + DP5Parameters.sharedKeyBytes)]
            stored.append(contentsOf: KeyDerivation.hashedKey(epoch: epoch, sharedKey: sharedKey))
            stored.append(contentsOf: message[(start + DP5Parameters.sharedKeyBytes)..<(start + recordSize)])
        }
        return RegistrationOutcome(reply: RegistrationReply(status: .accepted, epoch: nextEpoch), storedRecords: stored)
    }
}

/// The result of processing one registration message.
public struct RegistrationOutcome: Sendable, Hashable {
    /// The reply to send once the records are stored.
    public let reply: RegistrationReply
    /// The records to append to the next epoch's registrations (`HK ‖ ED` each); empty on refusal.
    public let storedRecords: [UInt8]
}
