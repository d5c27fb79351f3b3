import ArgumentParser
import DP5Core
import DP5Harness
import Foundation

/// `dp5 demo`: the whole protocol on an embedded default deployment.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Register users, change the epoch and look every user's buddies up, checking each answer.",
        discussion: """
            Runs a registration server and the lookup servers in this process, generates users with \
            up to 100 random buddies each, registers them all, fast-forwards the epoch, and has \
            every user look up all of its buddies by IT-PIR or by download, whichever moves fewer \
            bytes. Every answer is checked; the last line counts wrong answers, which must be 0.
            """
    )

    @Option(help: "Number of simulated users.")
    var users = 200

    @Option(help: "Number of lookup servers.")
    var lookupServers = 2

    @Option(help: "Privacy level t: the most lookup servers that may collude.")
    var privacyLevel = 1

    @Option(help: "Bytes of encrypted data per record (plaintext + 16-byte tag).")
    var dataEncSize = 32

    @Option(help: "Requests in flight at once (default: 5 × CPUs, as the original client).")
    var concurrency = 5 * System.coreCount

    func run() async throws {
        let configuration = try DP5Configuration(dataEncSize: dataEncSize)
        let parameters = try LookupParameters(numberOfServers: lookupServers, privacyLevel: privacyLevel)
        let deployment = InProcessDeployment(configuration: configuration, numberOfLookupServers: lookupServers)
        let harness = Harness(configuration: configuration, parameters: parameters, concurrency: concurrency)
        var generator = SecureRandomNumberGenerator()
        let population = UserPopulation.generate(count: users, using: &generator)
        print("DP5 demo: \(users) users, \(lookupServers) lookup servers, privacy level \(privacyLevel), dataEncSize \(dataEncSize)")

        print("Registering...")
        let clock = ContinuousClock()
        let registrationStart = clock.now
        _ = try await harness.registerAll(population, on: deployment)
        print(Timing.done(elapsed: registrationStart.duration(to: clock.now), count: users))

        let (old, new) = try await deployment.fastForward()
        print("Old: \(old) New: \(new)")

        print("Looking up")
        let lookupStart = clock.now
        let tally = try await harness.lookUp(population, registered: population, epoch: new, on: deployment)
        print(Timing.done(elapsed: lookupStart.duration(to: clock.now), count: users))
        print("Lookups: \(tally.pirLookups) by PIR, \(tally.downloadLookups) by download; \(tally.online) of \(tally.answers) buddies online")
        print("Wrong answers: \(tally.wrong)")
        if tally.wrong != 0 { throw ExitCode.failure }
    }
}

/// The original harness's `Done (X.XXs / Y.YYms / user)` line.
enum Timing {
    static func done(elapsed: Duration, count: Int) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let perUser = count > 0 ? seconds * 1000 / Double(count) : 0
        return "Done (" + String(format: "%.2fs / %.2fms / user)", seconds, perUser)
    }
}
