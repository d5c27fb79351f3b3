/// An error from the PsEPR protocol core. Errors compare equal when their ``code`` is equal;
/// ``reason`` carries the detail.
public struct PsEPRError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, safe to switch over and to use as a metric label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The bytes are not well-formed XML, or not the XML this protocol expects.
        public static let malformedXML = Code("malformedXML")
        /// A DOCTYPE or entity declaration: refused, so no entity expansion can happen.
        public static let declarationRefused = Code("declarationRefused")
        /// A stanza is larger than the configured bound.
        public static let stanzaTooLarge = Code("stanzaTooLarge")
        /// Elements are nested deeper than the configured bound.
        public static let tooDeep = Code("tooDeep")
        /// A tag has more attributes than the configured bound.
        public static let tooManyAttributes = Code("tooManyAttributes")
        /// A channel name does not follow the grammar (`/` … `/`).
        public static let invalidChannel = Code("invalidChannel")
        /// An event lacks a required part or has one of the wrong shape.
        public static let malformedEvent = Code("malformedEvent")
        /// The stream ended in the middle of a stanza.
        public static let truncated = Code("truncated")

        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// Detail for logs and error stanzas.
    public let reason: String

    init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// An envelope element (`<event>`, `<to>`, `<channel>` …) that appears twice in its parent.
    static func repeatedEnvelopeElement(_ name: some StringProtocol, in parent: some StringProtocol) -> PsEPRError {
        PsEPRError(.malformedEvent, "<\(parent)> has more than one <\(name)>")
    }

    public static func == (lhs: PsEPRError, rhs: PsEPRError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { "PsEPRError.\(code): \(reason)" }
}
