import ArgumentParser

/// The `dp5` command: DP5's servers, clients and tools.
@main
struct DP5Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dp5",
        abstract: "DP5, a private presence service.",
        subcommands: [DemoCommand.self]
    )
}
