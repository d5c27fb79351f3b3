/// Why a server refused or failed a request. Refusals map to the original's HTTP 403.
enum DP5ServerError: Error, CustomStringConvertible {
    /// A request the original answered with HTTP 403: wrong epoch, missing database, wrong role.
    case refused(String)
    /// Files on disk that contradict each other.
    case corruptDatabase(String)
    /// The registration server did not provide an epoch's database.
    case unavailable(String)

    var description: String {
        switch self {
        case .refused(let reason), .corruptDatabase(let reason), .unavailable(let reason): reason
        }
    }
}
