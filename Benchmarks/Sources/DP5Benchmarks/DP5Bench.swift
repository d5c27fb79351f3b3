import ArgumentParser

/// `dp5-bench`: release-mode benchmarks of the DP5 lookup server. Never part of the test command.
@main
struct DP5Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dp5-bench",
        abstract:
            "Benchmarks of the DP5 lookup server and of combined mode's BLS12-381 arithmetic (build with -c release).",
        subcommands: [PIRBenchmark.self, HTTPLookupBenchmark.self, ThreadScalingBenchmark.self, BLSBenchmark.self],
        defaultSubcommand: PIRBenchmark.self
    )
}
