import AsyncHTTPClient
import DP5Core
import Foundation
import Logging
import NIOCore
import ServerOperations
import ServiceLifecycle

/// Publishes each epoch's database at the epoch boundary, without waiting for a request, and
/// catches up on start-up after any downtime.
struct EpochRolloverService: Service {
    let authority: RegistrationAuthority
    let timer: any Clock<Duration>
    let logger: Logger

    func run() async throws {
        await publish()
        await cancelWhenGracefulShutdown {
            // Wake just after the boundary; never sleep longer than a minute, so a change of
            // the wall clock is noticed.
            await repeatWithPauses(
                on: timer,
                pause: { .seconds(min(await authority.secondsUntilNextEpoch + 0.01, 60)) }
            ) {
                await publish()
            }
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
///
/// A failing poll is logged at warning level (once per distinct reason, and again when it
/// recovers): a lookup server that cannot reach its registration server serves nobody.
struct DatabasePollService: Service {
    let databases: LookupDatabases
    let registrationServer: String
    let client: HTTPClient
    let interval: Double
    let configurationFile: String
    let timer: any Clock<Duration>
    let logger: Logger

    func run() async throws {
        await databases.loadExisting()
        await cancelWhenGracefulShutdown {
            var lastReason: String?
            await poll(lastReason: &lastReason)
            await repeatEvery(seconds: interval, on: timer) { await poll(lastReason: &lastReason) }
        }
    }

    /// One poll; `lastReason` is the failure last logged, so each distinct failure and the
    /// recovery are logged once.
    private func poll(lastReason: inout String?) async {
        do {
            let epoch = try await LookupDatabases.registrationServerEpoch(
                baseURL: registrationServer,
                client: client,
                configurationFile: configurationFile
            )
            await databases.announce(epoch)
            _ = try await databases.responder(for: epoch)
            if lastReason != nil {
                logger.info("Polling the registration server works again", metadata: ["dp5.epoch": "\(epoch)"])
                lastReason = nil
            }
        } catch {
            let reason = "\(error)"
            if lastReason != reason {
                logger.warning(
                    "Polling the registration server failed",
                    metadata: ["dp5.regServer": "\(registrationServer)", "error": "\(reason)"]
                )
                lastReason = reason
            }
        }
    }
}
