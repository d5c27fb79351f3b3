import Foundation
import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// The debug log's live controls: the category filter and the file to reopen
/// (`resetLogfile`). Shared by the log handler and the command service.
public final class LogControl: Sendable {
    private let filterBits: Atomic<UInt32>
    /// The rotating files, if logging to files.
    public let file: RotatingLogFile?

    /// Creates controls with an initial filter.
    public init(filter: LogCategory, file: RotatingLogFile?) {
        filterBits = Atomic(filter.rawValue)
        self.file = file
    }

    /// The categories logged (BADERROR always is).
    public var filter: LogCategory {
        get { LogCategory(rawValue: filterBits.load(ordering: .relaxed)) }
        set { filterBits.store(newValue.rawValue, ordering: .relaxed) }
    }
}
