import Foundation
import Logging
import PsEPRCore
import ServerOperations
import ServiceLifecycle

/// A small writer for the services' payloads: everything escaped.
struct XMLWriter {
    private(set) var text = ""

    mutating func open(_ name: String, attributes: [(String, String)] = []) {
        text += "<\(name)"
        for (key, value) in attributes { text += " \(key)='\(XMLText.escape(value))'" }
        text += ">"
    }

    mutating func close(_ name: String) { text += "</\(name)>" }

    mutating func element(_ name: String, _ value: String, attributes: [(String, String)] = []) {
        open(name, attributes: attributes)
        text += XMLText.escape(value)
        close(name)
    }

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
        element(name, "\(Int64(date.timeIntervalSince1970 * 1000))", attributes: [("readable", readable)])
    }

    mutating func connection(_ status: EventRouter.ConnectionStatus) {
        open("connection", attributes: [("name", status.remote)])
        element("type", status.role.rawValue)
        element("account", status.account ?? "")
        element("received", "\(status.received)")
        element("delivered", "\(status.delivered)")
        element("dropped", "\(status.dropped)")
        element("queued", "\(status.queued)")
        element("pendingBytes", "\(status.pendingBytes)")
        element("leases", "\(status.leases)")
        close("connection")
    }
}
