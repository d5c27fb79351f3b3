import Foundation
import Logging
import PsEPRCore
import ServerOperations
import ServiceLifecycle

/// Discovery: every `periodSeconds`, each listener on the discovery channel in the Server
/// Guide's format (§5.3): one `<connection>` per connection manager, with its `<type>`, the
/// `<hostname>` and `<port>` a client connects to, and its `<class>`.
struct Discovery: Service {
    let context: ServerContext

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // The first announcement goes out half a second after start, once the listeners are up.
            var first = true
            await repeatWithPauses(
                on: context.clock,
                pause: {
                    defer { first = false }
                    return .seconds(first ? 0.5 : context.live.current.services.discoveryPeriodSeconds)
                }
            ) {
                let configuration = context.live.current
                context.publish(
                    channel: configuration.services.discoveryChannel,
                    namespace: ServiceSettings.discoveryNamespace,
                    payload: Self.payload(configuration, ports: context.boundPorts),
                    idPrefix: "Discovery"
                )
            }
        }
    }

    /// A connection manager as Discovery names it: the guide's type and this implementation's
    /// class (the original's were Java class names; these are the Swift types serving the port).
    static let connectionManagers: [(type: String, className: String, listener: EventServer.Listener)] = [
        ("XMPP", "PsEPRServer.ClientListener", .client),
        ("OneEvent", "PsEPRServer.OneEventListener", .oneEvent),
        ("LeasePeer", "PsEPRServer.LeasePeerService", .leasePeer),
    ]

    /// The announcement. The advertised host is the bind address, or the server's host name when
    /// it listens on every address.
    static func payload(_ configuration: EventServerConfiguration, ports: BoundPorts) -> String {
        let host = ["0.0.0.0", "::", ""].contains(configuration.host) ? configuration.serverName : configuration.host
        var xml = XMLWriter()
        xml.start("payload", ["xmlns": ServiceSettings.discoveryNamespace])
        xml.start("connections")
        xml.element("hostname", text: configuration.serverName)
        xml.element(
            "instance",
            text: configuration.instance.isEmpty ? configuration.serverName : configuration.instance
        )
        xml.element("serverVersion", text: pseprServerVersion)
        for manager in connectionManagers {
            guard let port = ports.port(of: manager.listener) else { continue }
            xml.start("connection")
            xml.element("type", text: manager.type)
            xml.element("hostname", text: host)
            xml.element("port", text: "\(port)")
            xml.element("class", text: manager.className)
            xml.end("connection")
        }
        xml.end("connections")
        xml.end("payload")
        return xml.string
    }
}
