import Foundation
import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// The configuration in effect, which parameter commands and account tables change while the
/// server runs. Connections take a snapshot when they open; services read it each cycle.
public final class LiveConfiguration: Sendable {
    private let value: Mutex<EventServerConfiguration>

    /// Starts from `configuration`.
    public init(_ configuration: EventServerConfiguration) { value = Mutex(configuration) }

    /// The configuration now.
    public var current: EventServerConfiguration { value.withLock { $0 } }

    /// Changes the configuration.
    public func update<T>(_ change: (inout EventServerConfiguration) throws -> T) rethrows -> T {
        try value.withLock { try change(&$0) }
    }
}
