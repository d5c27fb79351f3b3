import Crypto
import Foundation
import Logging
import PsEPRClient
import PsEPRCore
import PsEPRServer
import PsEPRTesting
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The built-in services, spoken to over ordinary channels by library clients.
@Suite struct ServicesTests {
    static func configuration() -> EventServerConfiguration {
        var configuration = EventServerConfiguration.loopback(serverName: "status.test")
        configuration.services.accountingService = "admin"
        configuration.services.commandsService = "admin"
        configuration.services.discoveryPeriodSeconds = 0.2
        return configuration
    }

    static func payloadText(_ event: Event) -> String { String(decoding: event.payload, as: UTF8.self) }

    static func command(_ body: String) throws -> Event {
        Event(
            channel: try ChannelName(ServiceSettings().commandsChannel),
            payloadNamespace: ServiceSettings.commandsNamespace,
            payload: Array("<payload xmlns='\(ServiceSettings.commandsNamespace)'>\(body)</payload>".utf8)
        )
    }

    static func accountTable(_ accounts: [(String, String)]) throws -> Event {
        let seed = "s33d"
        let lines = accounts.map { name, password in
            let digest = Insecure.MD5.hash(data: Array((seed + password).utf8)).map { String(format: "%02x", $0) }
                .joined()
            return "<account><name>\(name)</name><password>\(digest)</password><expiration>0</expiration></account>"
        }.joined()
        return Event(
            channel: try ChannelName(ServiceSettings().accountingChannel),
            payloadNamespace: ServiceSettings.accountingNamespace,
            payload: Array(
                "<payload xmlns='\(ServiceSettings.accountingNamespace)'><passwordAccounts><passwordCoding>MD5</passwordCoding><passwordSeed>\(seed)</passwordSeed>\(lines)</passwordAccounts></payload>"
                    .utf8
            )
        )
    }

    /// Leases on the heartbeat and discovery channels, once both are granted.
    static func watchStatusAndDiscovery(_ watcher: EventClient) async throws -> (status: Lease, discovery: Lease) {
        let status = try await watcher.lease(ChannelName(ServiceSettings().statusChannel))
        let discovery = try await watcher.lease(ChannelName(ServiceSettings().discoveryChannel))
        #expect(await status.settled().isActive)
        #expect(await discovery.settled().isActive)
        return (status, discovery)
    }

    @Test func heartbeatAndDiscoveryArriveWithTheirPayloads() async throws {
        try await EventServer.withRunningServer(
            configuration: Self.configuration(),
            logger: Logger(label: "psepr.test")
        ) { running in
            let address = ServerAddress(host: "127.0.0.1", port: running.clientPort)
            try await EventClient.withClient(identity: identity("watcher"), servers: [address], options: fastOptions())
            { watcher in
                let (status, discovery) = try await Self.watchStatusAndDiscovery(watcher)

                let announcement = try await discovery.next(1)[0]
                #expect(announcement.payloadNamespace == ServiceSettings.discoveryNamespace)
                #expect(announcement.fromService == "PsEPRServer")
                let discovered = Self.payloadText(announcement)
                // The Server Guide's elements (§5.3), read by Foundation's XML parser.
                let payload = try #require(StandardXMLTree.parse(discovered))
                #expect(payload.name == "payload")
                let connections = try #require(payload.children.first)
                #expect(connections.name == "connections")
                #expect(connections.children.prefix(3).map(\.name) == ["hostname", "instance", "serverVersion"])
                #expect(connections.child("hostname")?.text == "status.test")
                let managers = connections.children.filter { $0.name == "connection" }
                #expect(
                    managers.map { $0.children.map(\.name) } == [
                        ["type", "hostname", "port", "class"], ["type", "hostname", "port", "class"],
                    ]
                )
                #expect(
                    managers.map {
                        [
                            $0.child("type")?.text, $0.child("hostname")?.text, $0.child("port")?.text,
                            $0.child("class")?.text,
                        ]
                    } == [
                        ["XMPP", "127.0.0.1", "\(running.clientPort)", "PsEPRServer.ClientListener"],
                        ["OneEvent", "127.0.0.1", "\(running.oneEventPort)", "PsEPRServer.OneEventListener"],
                    ]
                )
                // Clients read it as a server list.
                #expect(try ServerAddress.list(fromXML: Array(discovered.utf8)) == [address])
                #expect(
                    try ServerAddress.list(fromXML: Array(discovered.utf8), connectionType: "OneEvent") == [
                        ServerAddress(host: "127.0.0.1", port: running.oneEventPort)
                    ]
                )

                try await EventClient.withClient(
                    identity: identity("admin"),
                    servers: [address],
                    options: fastOptions()
                ) { admin in
                    try await admin.send(Self.command("<reportStatus/>"))
                    let heartbeat = try await status.next(1)[0]
                    #expect(heartbeat.payloadNamespace == ServiceSettings.heartbeatNamespace)
                    let text = Self.payloadText(heartbeat)
                    for field in [
                        "<hostname>status.test</hostname>", "<account>PsEPRServer</account>", "<serverVersion>",
                        "<totalMessages><count>",
                        "<totalConnections>2</totalConnections>", "<localTime readable=", "<startTime readable=",
                        "<connectionManagers><XMPP><port>\(running.clientPort)</port>",
                        "<serviceTraffic>", "<name>watcher</name>",
                    ] {
                        #expect(text.contains(field), "heartbeat lacks \(field)")
                    }
                    // The include flags decide the optional sections: client connections are off by default.
                    #expect(!text.contains("<connection name="))
                    #expect(!text.contains("<routeTable>"))
                }
            }
        }
    }

    /// The heartbeat and discovery wait on the server's injected clock: with hour-long periods,
    /// moving a manual clock by an hour brings each at once, and the first announcement comes
    /// half a second (of that clock) after start.
    @Test func periodicServicesRunOnTheInjectedClock() async throws {
        var configuration = Self.configuration()
        configuration.services.statusPeriodSeconds = 3600
        configuration.services.discoveryPeriodSeconds = 3600
        let clock = ManualClock()
        try await EventServer.withRunningServer(
            configuration: configuration,
            clock: clock,
            logger: Logger(label: "psepr.test")
        ) { running in
            let address = ServerAddress(host: "127.0.0.1", port: running.clientPort)
            try await EventClient.withClient(identity: identity("watcher"), servers: [address], options: fastOptions())
            { watcher in
                let (status, discovery) = try await Self.watchStatusAndDiscovery(watcher)
                // The gleaner, the flow watch, the heartbeat and the discovery loops.
                await clock.waitForSleepers(4)
                clock.advance(by: .milliseconds(500))
                #expect(try await discovery.next(1)[0].payloadNamespace == ServiceSettings.discoveryNamespace)
                await clock.waitForSleepers(4)
                clock.advance(by: .seconds(3600))
                #expect(try await status.next(1)[0].payloadNamespace == ServiceSettings.heartbeatNamespace)
                #expect(try await discovery.next(1)[0].payloadNamespace == ServiceSettings.discoveryNamespace)
            }
        }
    }

    @Test func commandsChangeLiveParametersOnlyFromTheirService() async throws {
        try await EventServer.withRunningServer(
            configuration: Self.configuration(),
            logger: Logger(label: "psepr.test")
        ) { running in
            let address = ServerAddress(host: "127.0.0.1", port: running.clientPort)
            let period = ServerSettings.Key.statusPeriodSeconds
            let include = ServerSettings.Key.statusClientConnections
            try await EventClient.withClient(identity: identity("mallory"), servers: [address], options: fastOptions())
            { mallory in
                try await mallory.send(Self.command("<parameter><name>\(period)</name><value>7</value></parameter>"))
            }
            try await EventClient.withClient(identity: identity("admin"), servers: [address], options: fastOptions()) {
                admin in
                let report = try await admin.lease(ChannelName(ServiceSettings().parameterReportChannel))
                #expect(await report.settled().isActive)
                try await admin.send(Self.command("<parameter><name>\(period)</name><value>42</value></parameter>"))
                try await admin.send(Self.command("<parameter><name>\(include)</name><value>yes</value></parameter>"))
                try await admin.send(
                    Self.command(
                        "<destinationHost>another.host</destinationHost><parameter><name>\(period)</name><value>99</value></parameter>"
                    )
                )
                try await admin.send(Self.command("<parameter><name>\(period)</name><value>-1</value></parameter>"))
                try await admin.send(Self.command("<reportParameters/>"))
                let reported = Self.payloadText(try await report.next(1)[0])
                #expect(reported.contains("<periodSeconds>42</periodSeconds>"))
                #expect(running.server.live.current.services.statusPeriodSeconds == 42)
                #expect(running.server.live.current.services.statusIncludesClientConnections)
            }
        }
    }

    @Test func accountTablesComeOnlyFromTheAccountingServiceAndAreEnforced() async throws {
        try await EventServer.withRunningServer(
            configuration: Self.configuration(),
            logger: Logger(label: "psepr.test")
        ) { running in
            let address = ServerAddress(host: "127.0.0.1", port: running.clientPort)
            try await EventClient.withClient(identity: identity("mallory"), servers: [address], options: fastOptions())
            { mallory in
                try await mallory.send(Self.accountTable([("mallory", "mine")]))
            }
            try await EventClient.withClient(identity: identity("admin"), servers: [address], options: fastOptions()) {
                admin in
                try await admin.send(Self.accountTable([("stork", "right"), ("admin", "pw")]))
            }
            try await eventually("the account table takes effect") { running.server.live.current.accounts != nil }
            // The table in effect is the accounting service's, not mallory's.
            #expect(running.server.live.current.accounts?.verify(service: "mallory", password: "mine") == false)
            let wrong = ServiceIdentity(service: "stork", password: "wrong", instance: "x")
            await #expect(throws: EventClient.ClientError.authenticationFailed(server: "127.0.0.1")) {
                try await EventClient.withClient(identity: wrong, servers: [address], options: fastOptions()) { _ in }
            }
            let right = ServiceIdentity(service: "stork", password: "right", instance: "x")
            try await EventClient.withClient(identity: right, servers: [address], options: fastOptions()) { client in
                #expect(await client.connectedServer?.port == running.clientPort)
            }
        }
    }
}

/// A document as Foundation's XML parser (libxml2) reads it: element names, text and children.
struct StandardXMLTree {
    var name: String
    var text = ""
    var children: [StandardXMLTree] = []

    func child(_ name: String) -> StandardXMLTree? { children.first { $0.name == name } }

    /// The document's root, or nil when the parser refuses the text.
    static func parse(_ text: String) -> StandardXMLTree? {
        let parser = XMLParser(data: Data(text.utf8))
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [StandardXMLTree] = []
        var root: StandardXMLTree?

        func parser(
            _ parser: XMLParser,
            didStartElement name: String,
            namespaceURI: String?,
            qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            stack.append(StandardXMLTree(name: name))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            let element = stack.removeLast()
            if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
        }
    }
}
