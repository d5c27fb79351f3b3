import AsyncHTTPClient
import DP5Core
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Publishes each epoch's database at the epoch boundary, without waiting for a request, and
/// catches up on start-up after any downtime.
struct EpochRolloverService: Service {
    let authority: RegistrationAuthority
    let logger: Logger

    func run() async throws {
        await publish()
        await sleepingLoop {
            // Wake just after the boundary; never sleep longer than a minute, so a clock change
            // is noticed.
            min(await authority.secondsUntilNextEpoch + 0.01, 60)
        } body: {
            await publish()
        }
    }

    private func publish() async {
        do {
            try await authority.publishDueEpochs()
        } catch {
            // A full disk or similar: registrations stay in regdir and the next tick retries.
            logger.error("Publishing an epoch database failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Asks the registration server for its epoch every few seconds and fetches a new epoch's
/// database as soon as it exists, so the first lookup of an epoch does not wait for it.
struct DatabasePollService: Service {
    let databases: LookupDatabases
    let registrationServer: String
    let client: HTTPClient
    let interval: Double
    let logger: Logger

    func run() async throws {
        await databases.loadExisting()
        await sleepingLoop { interval } body: {
            do {
                let response = try await client.execute(HTTPClientRequest(url: registrationServer + "/"), timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 4096)
                struct Status: Decodable { let epoch: UInt32 }
                let status = try JSONDecoder().decode(Status.self, from: Data(body.readableBytesView))
                _ = try await databases.responder(for: Epoch(status.epoch))
            } catch {
                logger.debug("Polling the registration server failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Runs `body` after each `delay()` seconds until graceful shutdown or cancellation.
func sleepingLoop(delay: @escaping @Sendable () async -> Double, body: @escaping @Sendable () async -> Void) async {
    try? await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(await delay()))
            await body()
        }
    }
}
