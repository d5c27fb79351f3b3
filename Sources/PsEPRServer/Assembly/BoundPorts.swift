import Foundation
import Logging
import NIOCore
import PsEPRCore
import Synchronization

/// The addresses the listeners bound (ports chosen at start-up when configured as 0).
public struct BoundPorts: Sendable, Hashable {
    /// The client (XMPP-like) port.
    public var client: Int?
    /// The OneEvent port.
    public var oneEvent: Int?
    /// The LeasePeer port, when the mesh runs.
    public var leasePeer: Int?
    /// The monitoring port, when enabled.
    public var monitor: Int?

    /// None bound yet.
    public init() {}

    /// The port `listener` bound, if it has.
    func port(of listener: EventServer.Listener) -> Int? {
        switch listener {
        case .client: client
        case .oneEvent: oneEvent
        case .leasePeer: leasePeer
        case .monitor: monitor
        }
    }

    /// Notes the port `listener` bound.
    public mutating func record(_ listener: EventServer.Listener, port: Int) {
        switch listener {
        case .client: client = port
        case .oneEvent: oneEvent = port
        case .leasePeer: leasePeer = port
        case .monitor: monitor = port
        }
    }

    /// Whether every listener a server with this configuration opens is bound.
    public func isComplete(withLeasePeer: Bool, withMonitor: Bool) -> Bool {
        client != nil && oneEvent != nil && (!withLeasePeer || leasePeer != nil) && (!withMonitor || monitor != nil)
    }

    /// Whether every listener of `configuration` is bound.
    public func isComplete(for configuration: EventServerConfiguration) -> Bool {
        isComplete(
            withLeasePeer: configuration.peer.configurationURL != nil,
            withMonitor: configuration.monitor.port != nil
        )
    }

    /// The ports reported on `reports` once every listener is up (the LeasePeer one only when
    /// `withLeasePeer`), or as far as they got if the reports end first (a server that failed).
    public static func awaitAll(
        _ reports: AsyncStream<(EventServer.Listener, Int)>,
        withLeasePeer: Bool,
        withMonitor: Bool = false
    ) async -> BoundPorts {
        var bound = BoundPorts()
        var iterator = reports.makeAsyncIterator()
        while !bound.isComplete(withLeasePeer: withLeasePeer, withMonitor: withMonitor),
            let (listener, port) = await iterator.next()
        {
            bound.record(listener, port: port)
        }
        return bound
    }
}
