// swift-tools-version:6.1
import PackageDescription

let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "dp5-psepr",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DP5Core", targets: ["DP5Core"]),
        .library(name: "DP5Harness", targets: ["DP5Harness"]),
        .executable(name: "dp5", targets: ["dp5"]),
        .executable(name: "dp5-bench", targets: ["DP5Benchmarks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // DP5 wire formats, cryptography and IT-PIR. No sockets, no HTTP.
        // Optimised in debug builds too: the PIR arithmetic is ~50× slower unoptimised, which
        // would make `swift run dp5 …` and the test suite crawl.
        .target(
            name: "DP5Core",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: upcomingFeatures + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // The load harness: simulated users, answer checking, deployments to drive.
        .target(
            name: "DP5Harness",
            dependencies: ["DP5Core"],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "dp5",
            dependencies: [
                "DP5Core",
                "DP5Harness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // Release-mode benchmarks; never part of the test command.
        .executableTarget(
            name: "DP5Benchmarks",
            dependencies: [
                "DP5Core",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "DP5HarnessTests",
            dependencies: ["DP5Core", "DP5Harness"],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "DP5CoreTests",
            dependencies: [
                "DP5Core",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: upcomingFeatures
        ),
    ],
    swiftLanguageModes: [.v6]
)
