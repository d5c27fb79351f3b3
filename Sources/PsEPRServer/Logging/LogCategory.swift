public import Logging

/// The debug categories of the Server Guide's `/PsEPRServer/debug/filterLevel` bit mask.
///
/// The guide pins `0xB062` = SERVICES, PEER, GLEANER, LEASE, BADERROR, IO and `0x0010` =
/// STATUSREPORT; the bit of each name within `0xB062` and the detail categories' bits are this
/// implementation's choice (documented in `docs/psepr-protocol.md`). BADERROR is always logged.
public struct LogCategory: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Connections opened, refused and closed; server search on the client side.
    public static let io = LogCategory(rawValue: 0x0002)
    /// Per-stanza detail of connections.
    public static let ioDetail = LogCategory(rawValue: 0x0004)
    /// Per-message detail of peer links.
    public static let peerDetail = LogCategory(rawValue: 0x0008)
    /// Each heartbeat sent.
    public static let statusReport = LogCategory(rawValue: 0x0010)
    /// Leases granted, renewed, refused and released.
    public static let lease = LogCategory(rawValue: 0x0020)
    /// Errors: always logged.
    public static let badError = LogCategory(rawValue: 0x0040)
    /// Every lease operation in detail.
    public static let leaseDetail = LogCategory(rawValue: 0x0080)
    /// Parameter reading and changes.
    public static let parameterDetail = LogCategory(rawValue: 0x0100)
    /// Service invocations.
    public static let invocation = LogCategory(rawValue: 0x0200)
    /// Anything else in detail.
    public static let detail = LogCategory(rawValue: 0x0400)
    /// Expired leases swept.
    public static let gleaner = LogCategory(rawValue: 0x1000)
    /// Peer links.
    public static let peer = LogCategory(rawValue: 0x2000)
    /// Start-up, shutdown and the built-in services.
    public static let services = LogCategory(rawValue: 0x8000)

    /// The Server Guide's default filter, `0xB062`.
    public static let serverDefault: LogCategory = [.services, .peer, .gleaner, .lease, .badError, .io]

    static let names: [(LogCategory, String)] = [
        (.io, "IO"), (.ioDetail, "IODETAIL"), (.peerDetail, "PEERDETAIL"), (.statusReport, "STATUSREPORT"),
        (.lease, "LEASE"), (.badError, "BADERROR"), (.leaseDetail, "LEASEDETAIL"), (.parameterDetail, "PARAMDETAIL"),
        (.invocation, "INVOCATION"), (.detail, "DETAIL"), (.gleaner, "GLEANER"), (.peer, "PEER"),
        (.services, "SERVICES"),
    ]

    /// The category's name as the original's logs spelt it (`IO`, `LEASE`, …).
    public var name: String {
        Self.names.filter { contains($0.0) }.map(\.1).joined(separator: ",")
    }

    /// The category with this name, if any.
    public init?(name: String) {
        guard let match = Self.names.first(where: { $0.1 == name.uppercased() }) else { return nil }
        self = match.0
    }

    /// The metadata key carrying an entry's category.
    public static let metadataKey = "psepr.category"

    /// The category of a log entry: its `psepr.category` metadata, or by level when it has none
    /// (warnings and worse are BADERROR, the rest DETAIL).
    static func of(level: Logger.Level, metadata: Logger.Metadata?) -> LogCategory {
        if case .string(let name)? = metadata?[metadataKey], let category = LogCategory(name: name) { return category }
        return level >= .warning ? .badError : .detail
    }
}

extension Logger {
    /// Logs `message` in a debug category, for the `filterLevel` filter.
    public func log(
        _ category: LogCategory,
        _ level: Logger.Level = .info,
        _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID,
        function: String = #function,
        line: UInt = #line
    ) {
        log(
            level: level,
            message(),
            metadata: metadata().merging([LogCategory.metadataKey: .string(category.name)]) { $1 },
            file: file,
            function: function,
            line: line
        )
    }
}
