import Foundation
import Logging
import PsEPRCore
import ServerOperations
import ServiceLifecycle

/// The services' payload pieces the heartbeat and the status page share.
extension XMLWriter {
    /// `<name readable="yyyyMMdd.HHmmss">milliseconds</name>` in UTC, as the original wrote times.
    mutating func timestamp(_ name: String, _ date: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let readable = String(
            format: "%04d%02d%02d.%02d%02d%02d",
            c.year ?? 0,
            c.month ?? 0,
            c.day ?? 0,
            c.hour ?? 0,
            c.minute ?? 0,
            c.second ?? 0
        )
        element(name, ["readable": readable], text: "\(Int64(date.timeIntervalSince1970 * 1000))")
    }

    mutating func connection(_ status: ConnectionStatus) {
        start("connection", ["name": status.remote])
        element("type", text: status.role.rawValue)
        element("account", text: status.account ?? "")
        element("received", text: "\(status.received)")
        element("delivered", text: "\(status.delivered)")
        element("dropped", text: "\(status.dropped)")
        element("queued", text: "\(status.queued)")
        element("pendingBytes", text: "\(status.pendingBytes)")
        element("leases", text: "\(status.leases)")
        end("connection")
    }
}
