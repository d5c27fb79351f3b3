/// A request to a lookup server. All requests are POSTed raw to `/lookup/<E>/`.
///
/// | bytes | meaning |
/// | --- | --- |
/// | `ff ‖ E` | metadata request |
/// | `fe ‖ E ‖ PIR queries` | PIR request (``PIRQueryBatch`` wire form) |
/// | `fd ‖ E` | full download |
/// | `fc ‖ E` | SHA-256 of the data file (an extension: the original answers it `00 ‖ E`) |
public enum LookupRequest: Sendable, Hashable {
    /// Opcode of a metadata request.
    public static let metadataOpcode: UInt8 = 0xFF
    /// Opcode of a PIR request.
    public static let pirOpcode: UInt8 = 0xFE
    /// Opcode of a download request.
    public static let downloadOpcode: UInt8 = 0xFD
    /// Opcode of a data-file digest request (not in the original).
    public static let digestOpcode: UInt8 = 0xFC

    /// Asks for the metadata of epoch `E`.
    case metadata(Epoch)
    /// PIR queries against epoch `E`'s database, as the unparsed Percy++ body (its parse needs
    /// the database's block count).
    case pir(Epoch, queries: ArraySlice<UInt8>)
    /// Asks for the whole data file of epoch `E`.
    case download(Epoch)
    /// Asks for the SHA-256 of epoch `E`'s data file, so a client can check a download against
    /// the other servers' files.
    case digest(Epoch)

    /// Parses a request body.
    ///
    /// - Returns: `nil` if the body is shorter than 5 bytes or has an unknown opcode.
    public init?(rawRepresentation bytes: [UInt8]) {
        guard bytes.count >= 5, let epoch = Epoch(wireBytes: bytes[1...]) else { return nil }
        switch bytes[0] {
        case Self.metadataOpcode: self = .metadata(epoch)
        case Self.pirOpcode: self = .pir(epoch, queries: bytes[5...])
        case Self.downloadOpcode: self = .download(epoch)
        case Self.digestOpcode: self = .digest(epoch)
        default: return nil
        }
    }

    /// The request body.
    public var rawRepresentation: [UInt8] {
        switch self {
        case .metadata(let epoch): [Self.metadataOpcode] + epoch.wireBytes
        case .pir(let epoch, let queries): [Self.pirOpcode] + epoch.wireBytes + queries
        case .download(let epoch): [Self.downloadOpcode] + epoch.wireBytes
        case .digest(let epoch): [Self.digestOpcode] + epoch.wireBytes
        }
    }

    /// The epoch the request is for.
    public var epoch: Epoch {
        switch self {
        case .metadata(let epoch), .pir(let epoch, _), .download(let epoch), .digest(let epoch): epoch
        }
    }
}
