import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServerOperations
import ServiceLifecycle
import Testing

@Suite("Requests handled on their connection's event loop")
struct EventLoopHandlingTests {
    /// A handler says whether it runs on an event loop thread: with `handlingOnEventLoop` it
    /// does; without, it runs on Swift's pool.
    @Test(arguments: [true, false])
    func handlersRunWhereTheServerSays(onEventLoop: Bool) async throws {
        let router = Router()
        router.get("/where") { _, _ -> String in
            MultiThreadedEventLoopGroup.currentEventLoop == nil ? "pool" : "event loop"
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let logger = Logger(label: "event-loop-handling-test")
        let application = Application(
            router: router,
            server: .guardedHTTP1(
                maximumConnections: 8,
                idleTimeout: .seconds(30),
                requestTimeout: .seconds(30),
                handlingOnEventLoop: onEventLoop
            ),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(services: [application], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            // Twice: the second request is read by a handling task that has already awaited.
            for _ in 0..<2 {
                let answer = try await get(port: port, "/where")
                #expect(answer.status == 200)
                #expect(answer.body == (onEventLoop ? "event loop" : "pool"))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
