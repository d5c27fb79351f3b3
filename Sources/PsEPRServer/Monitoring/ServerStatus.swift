import Foundation
import PsEPRCore
import ServerOperations

/// A snapshot of the server for the monitoring port: `/varz`, `/connz`, `/leasez` and the status
/// page show the same numbers, taken once per request.
struct ServerStatus {
    let configuration: EventServerConfiguration
    let ports: BoundPorts
    let startDate: Date
    let now: Date
    let statistics: EventRouter.Statistics
    let leases: Int
    let connections: [ConnectionStatus]
    let channels: [(channel: String, leases: Int)]
    let bytes: (received: Int, sent: Int)
    let peersConfigured: Int
    let peersLinked: [String]
    let hostID: String

    init(_ context: ServerContext, now: Date = Date()) {
        configuration = context.live.current
        ports = context.boundPorts
        startDate = context.startDate
        self.now = now
        let snapshot = context.router.snapshot
        statistics = snapshot.statistics
        leases = snapshot.leases
        connections = context.router.connectionStatuses()
        channels = context.router.leaseCountsByChannel().map { ($0.channel.rawValue, $0.leases) }
        bytes = context.router.trafficBytes
        peersConfigured = context.mesh?.configuration.peers.count ?? 0
        peersLinked = context.mesh?.linkedPeers ?? []
        hostID = context.mesh?.configuration.ownID ?? ""
    }

    var uptimeSeconds: Int { max(0, Int(now.timeIntervalSince(startDate))) }
    var clientConnections: Int { connections.filter { $0.role == .client }.count }
    var peerConnections: Int { connections.filter { $0.role == .peer }.count }
    var instance: String { configuration.instance.isEmpty ? configuration.serverName : configuration.instance }

    /// `/varz`: who the server is, how long it has run, its listeners and totals.
    var varz: String {
        var object = JSONObject()
        object.add("server", string: configuration.serverName)
        object.add("service", string: configuration.serviceName)
        object.add("instance", string: instance)
        object.add("hostID", string: hostID)
        object.add("version", string: BuildInfo.version)
        object.add("build", string: BuildInfo.build)
        object.add("start", string: startDate.formatted(.iso8601))
        object.add("now", string: now.formatted(.iso8601))
        object.add("uptimeSeconds", uptimeSeconds)
        var listeners = JSONObject()
        listeners.add("host", string: configuration.host)
        for (name, port) in [
            ("client", ports.client), ("oneEvent", ports.oneEvent), ("leasePeer", ports.leasePeer),
            ("monitor", ports.monitor),
        ] {
            if let port { listeners.add(name, port) }
        }
        object.add("listeners", raw: listeners.text)
        object.add("connections", connections.count)
        object.add("clientConnections", clientConnections)
        object.add("peerConnections", peerConnections)
        object.add("maximumConnections", configuration.maximumConnections)
        object.add("leases", leases)
        object.add("channels", channels.count)
        var events = JSONObject()
        events.add("routed", statistics.eventsRouted)
        var bySource = JSONObject()
        for source in EventSource.allCases { bySource.add(source.rawValue, statistics.eventsBySource[source]) }
        events.add("received", raw: bySource.text)
        events.add("deliveries", statistics.deliveries)
        events.add("dropped", statistics.dropped)
        events.add("stalls", statistics.stalls)
        events.add("slowConsumerDisconnects", statistics.slowConsumerDisconnects)
        object.add("events", raw: events.text)
        object.add("bytesReceived", bytes.received)
        object.add("bytesSent", bytes.sent)
        var logins = JSONObject()
        logins.add("ok", statistics.loginsAccepted)
        logins.add("refused", statistics.loginsRefused)
        object.add("logins", raw: logins.text)
        var peers = JSONObject()
        peers.add("configured", peersConfigured)
        peers.add("linked", raw: "[" + peersLinked.map(LogFormat.jsonString).joined(separator: ",") + "]")
        object.add("peers", raw: peers.text)
        return object.text + "\n"
    }

    /// `/connz`: every open connection and its counters.
    var connz: String {
        var object = JSONObject()
        object.add("now", string: now.formatted(.iso8601))
        object.add("count", connections.count)
        let list = connections.map { connection -> String in
            var entry = JSONObject()
            entry.add("session", string: "\(connection.session)")
            entry.add("kind", string: connection.role.rawValue)
            entry.add("account", string: connection.account ?? "")
            entry.add("remote", string: connection.remote)
            entry.add("received", connection.received)
            entry.add("delivered", connection.delivered)
            entry.add("dropped", connection.dropped)
            entry.add("queued", connection.queued)
            entry.add("leases", connection.leases)
            entry.add("bytesReceived", connection.bytesReceived)
            entry.add("bytesSent", connection.bytesSent)
            return entry.text
        }
        object.add("connections", raw: "[" + list.joined(separator: ",") + "]")
        return object.text + "\n"
    }

    /// `/leasez`: the leases per channel (the built-in services' routes included).
    var leasez: String {
        var object = JSONObject()
        object.add("leases", leases)
        let list = channels.map { channel -> String in
            var entry = JSONObject()
            entry.add("channel", string: channel.channel)
            entry.add("leases", channel.leases)
            return entry.text
        }
        object.add("channels", raw: "[" + list.joined(separator: ",") + "]")
        return object.text + "\n"
    }

    /// The status page: the same numbers, rendered by the server (no script, no external
    /// assets), reloading itself every `refreshSeconds`.
    func page(refreshSeconds: Int) -> String {
        // XML's escaping is HTML's too, in text and in quoted attributes.
        func h(_ text: String) -> String { XMLText.escape(text) }
        func tile(_ id: String, _ label: String, _ value: Int) -> String {
            "<div class=\"tile\"><div class=\"value\" id=\"\(id)\">\(value)</div><div class=\"label\">\(h(label))</div></div>"
        }
        let listeners = [
            ("client", ports.client), ("OneEvent", ports.oneEvent), ("LeasePeer", ports.leasePeer),
            ("monitor", ports.monitor),
        ]
        .compactMap { name, port in port.map { "\(name) \($0)" } }.joined(separator: " · ")
        let received = EventSource.allCases.map { "\($0.rawValue) \(statistics.eventsBySource[$0])" }.joined(
            separator: " · "
        )
        let rows = connections.map { c in
            "<tr><td>\(h("\(c.session)"))</td><td>\(h(c.role.rawValue))</td><td>\(h(c.account ?? ""))</td><td>\(h(c.remote))</td>"
                + "<td>\(c.received)</td><td>\(c.delivered)</td><td>\(c.dropped)</td><td>\(c.queued)</td><td>\(c.leases)</td></tr>"
        }.joined()
        let channelRows = channels.map { "<tr><td>\(h($0.channel))</td><td>\($0.leases)</td></tr>" }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="\(refreshSeconds)">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>PsEPR \(h(configuration.serverName))</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
            h1{font-size:1.4em;margin:0 0 .2em}.sub{color:#666;margin-bottom:1em}
            .tiles{display:flex;flex-wrap:wrap;gap:.8em;margin-bottom:1.2em}
            .tile{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:8em}
            .value{font-size:1.6em;font-weight:600}.label{color:#666;font-size:.85em}
            table{border-collapse:collapse;background:#fff;margin-bottom:1.2em}
            td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}th{background:#f0f0f0}
            </style></head><body>
            <h1>PsEPR server <span id="server-name">\(h(configuration.serverName))</span></h1>
            <div class="sub">\(h(configuration.serviceName))/\(h(instance)) · version \(h(BuildInfo.version)) · up <span id="uptime">\(uptimeSeconds)</span> s · listeners \(h(listeners)) · refreshed \(h(now.formatted(.iso8601))) every \(refreshSeconds) s</div>
            <div class="tiles">
            \(tile("connections", "connections", connections.count))
            \(tile("client-connections", "client connections", clientConnections))
            \(tile("peer-connections", "peer connections", peerConnections))
            \(tile("leases", "leases", leases))
            \(tile("events-routed", "events routed", statistics.eventsRouted))
            \(tile("deliveries", "deliveries", statistics.deliveries))
            \(tile("dropped", "dropped", statistics.dropped))
            \(tile("peers-linked", "peers linked of \(peersConfigured)", peersLinked.count))
            </div>
            <div class="sub">events received: \(h(received)) · bytes in \(bytes.received), out \(bytes.sent) · logins ok \(statistics.loginsAccepted), refused \(statistics.loginsRefused) · slow-consumer disconnects \(statistics.slowConsumerDisconnects)</div>
            <h2>Connections</h2>
            <table id="connection-table"><tr><th>session</th><th>kind</th><th>account</th><th>remote</th><th>received</th><th>delivered</th><th>dropped</th><th>queued</th><th>leases</th></tr>\(rows)</table>
            <h2>Leases per channel</h2>
            <table id="channel-table"><tr><th>channel</th><th>leases</th></tr>\(channelRows)</table>
            <h2>Peers</h2>
            <div id="peers">\(peersLinked.isEmpty ? "none linked" : h(peersLinked.joined(separator: ", ")))</div>
            </body></html>

            """
    }
}

/// A JSON object written field by field (keys and strings escaped).
struct JSONObject {
    private var fields: [String] = []

    mutating func add(_ key: String, string value: String) {
        fields.append("\(LogFormat.jsonString(key)):\(LogFormat.jsonString(value))")
    }
    mutating func add(_ key: String, _ value: Int) { fields.append("\(LogFormat.jsonString(key)):\(value)") }
    mutating func add(_ key: String, raw json: String) { fields.append("\(LogFormat.jsonString(key)):\(json)") }

    var text: String { "{" + fields.joined(separator: ",") + "}" }
}
