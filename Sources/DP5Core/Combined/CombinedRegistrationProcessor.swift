import Foundation

/// The registration server's handling of one combined-mode message `E ‖ σ ‖ ED`: check σ, then
/// store `H4(e(g1, σ)) ‖ ED`.
///
/// The pairing makes this the registration server's costliest step (milliseconds per message),
/// so it is pure and `Sendable`: callers run it off their actor, and ``processBatch(_:nextEpoch:)``
/// spreads a batch over every core.
public struct CombinedRegistrationProcessor: Sendable {
    /// The deployment's parameters.
    public let configuration: DP5Configuration

    /// Creates a processor.
    public init(configuration: DP5Configuration) {
        self.configuration = configuration
    }

    /// The outcome of one message, and why σ was refused if it was.
    public struct Outcome: Sendable, Hashable {
        /// The reply and the record to store.
        public let outcome: RegistrationOutcome
        /// Set when the reply is ``RegistrationReply/Status/refusedSignature``.
        public let signatureError: BLSPointError?
    }

    /// The stored record for `message`, checked against `nextEpoch`.
    ///
    /// Statuses: 0x01 shorter than 4 bytes, 0x02 another epoch, 0x03 not exactly
    /// 4 + 96 + dataEncSize bytes, 0x04 σ malformed, off the curve, outside G2 or the identity.
    public func process(_ message: [UInt8], nextEpoch: Epoch) -> Outcome {
        func refuse(_ status: RegistrationReply.Status, _ error: BLSPointError? = nil) -> Outcome {
            Outcome(
                outcome: RegistrationOutcome(
                    reply: RegistrationReply(status: status, epoch: nextEpoch),
                    storedRecords: []
                ),
                signatureError: error
            )
        }
        guard let epoch = Epoch(wireBytes: message) else { return refuse(.messageTooShort) }
        guard epoch == nextEpoch else { return refuse(.wrongEpoch) }
        guard message.count == CombinedRegistrationClient.messageLength(configuration: configuration) else {
            return refuse(.malformedRecords)
        }
        let signatureEnd = 4 + CombinedParameters.signatureBytes
        let signature: G2Point
        do {
            signature = try G2Point(compressed: message[4..<signatureEnd])
        } catch {
            return refuse(.refusedSignature, error)
        }
        let hashedKey = KeyDerivation.combinedHashedKey(pairingValue: BLS12381.pairing(.generator, signature))
        let record = hashedKey + message[signatureEnd...]
        return Outcome(
            outcome: RegistrationOutcome(
                reply: RegistrationReply(status: .accepted, epoch: nextEpoch),
                storedRecords: record
            ),
            signatureError: nil
        )
    }

    /// ``process(_:nextEpoch:)`` for many messages, over every core; outcomes in message order.
    public func processBatch(
        _ messages: [[UInt8]],
        nextEpoch: Epoch,
        concurrency: Int = CombinedRegistrationProcessor.defaultConcurrency
    ) async -> [Outcome] {
        let workers = max(1, min(concurrency, messages.count))
        let chunk = (messages.count + workers - 1) / max(workers, 1)
        return await withTaskGroup(of: (Int, [Outcome]).self) { group in
            for worker in 0..<workers {
                let range = (worker * chunk)..<min(messages.count, (worker + 1) * chunk)
                guard !range.isEmpty else { continue }
                group.addTask {
                    (worker, range.map { process(messages[$0], nextEpoch: nextEpoch) })
                }
            }
            var parts = [[Outcome]](repeating: [], count: workers)
            for await (worker, outcomes) in group { parts[worker] = outcomes }
            return parts.flatMap { $0 }
        }
    }

    /// The machine's active processor count.
    public static var defaultConcurrency: Int { ProcessInfo.processInfo.activeProcessorCount }
}
