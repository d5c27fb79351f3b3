/// The registration server's reply: `status(1) ‖ server's next epoch(4, big-endian)`.
///
/// The epoch is present even on error, so a client can tell how far off its clock is.
public struct RegistrationReply: Sendable, Hashable {
    /// The reply's status byte.
    public struct Status: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// 0x00: the records are stored.
        public static let accepted = Status(rawValue: 0x00)
        /// 0x01: the message is shorter than its 4-byte epoch.
        public static let messageTooShort = Status(rawValue: 0x01)
        /// 0x02: the message is for another epoch than the server's next one.
        public static let wrongEpoch = Status(rawValue: 0x02)
        /// 0x03: the records are not a whole number of records, or more than 100.
        public static let malformedRecords = Status(rawValue: 0x03)
        /// 0x04 (combined mode): σ is malformed, off the curve, outside G2 or the identity.
        public static let refusedSignature = Status(rawValue: 0x04)

        public var description: String {
            switch self {
            case .accepted: "accepted"
            case .messageTooShort: "message too short"
            case .wrongEpoch: "wrong epoch"
            case .malformedRecords: "malformed records"
            case .refusedSignature: "refused signature"
            default: "status 0x" + [rawValue].hexString
            }
        }
    }

    /// Whether the server stored the registration, and if not why.
    public let status: Status
    /// The epoch the server is registering for.
    public let epoch: Epoch

    /// Creates a reply.
    public init(status: Status, epoch: Epoch) {
        self.status = status
        self.epoch = epoch
    }

    /// Parses the 5-byte wire form.
    ///
    /// - Throws: ``DP5Error/Code/malformedRegistrationReply`` (original code 0xFE) for any other length.
    public init(rawRepresentation bytes: [UInt8]) throws {
        guard bytes.count == 5 else {
            throw DP5Error(
                .malformedRegistrationReply,
                "registration reply is \(bytes.count) bytes, expected 5",
                originalCode: 0xFE
            )
        }
        self.status = Status(rawValue: bytes[0])
        self.epoch = Epoch(wireBytes: bytes[1...])!
    }

    /// The 5-byte wire form.
    public var rawRepresentation: [UInt8] { [status.rawValue] + epoch.wireBytes }
}
