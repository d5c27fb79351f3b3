// swift-tools-version:6.2
import PackageDescription

let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    // Warnings in the project's own code are errors (dependencies keep their own settings).
    .treatAllWarnings(as: .error),
]

// Release builds of the PsEPR router skip the run-time exclusivity checks: they cost a lookup on
// every access to a connection handler's state, per event. Debug builds (the tests) keep them,
// and the compile-time checks hold in both.
let routingHotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "dp5-psepr",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DP5Core", targets: ["DP5Core"]),
        .library(name: "DP5Client", targets: ["DP5Client"]),
        .library(name: "DP5Server", targets: ["DP5Server"]),
        .library(name: "DP5Harness", targets: ["DP5Harness"]),
        .library(name: "PsEPRCore", targets: ["PsEPRCore"]),
        .library(name: "PsEPRServer", targets: ["PsEPRServer"]),
        .library(name: "PsEPRClient", targets: ["PsEPRClient"]),
        .library(name: "PsEPRLoadGenerator", targets: ["PsEPRLoadGenerator"]),
        .executable(name: "dp5", targets: ["dp5"]),
        .executable(name: "psepr", targets: ["psepr"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // GF(2^8) multiply-accumulate kernels (GFNI, AVX2/SSSE3 shuffles, portable) with runtime
        // dispatch. Optimised in every build: debug builds compile C at -O0 otherwise, which
        // would make `swift run dp5 …` and the tests serve PIR at a fraction of the speed.
        .target(
            name: "CGF256",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // BLS12-381 field tower, G1/G2, hash-to-G2 and the optimal ate pairing for DP5's combined
        // mode (docs/dp5-combined.md). Optimised in every build, like CGF256: the pairing is ~10x
        // slower at -O0, which would make the combined tests and `swift run dp5` crawl.
        .target(
            name: "CBLS12381",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // DP5 wire formats, cryptography and IT-PIR. No sockets, no HTTP.
        // Optimised in debug builds too: the PIR arithmetic is ~50× slower unoptimised, which
        // would make `swift run dp5 …` and the test suite crawl.
        .target(
            name: "DP5Core",
            dependencies: ["CGF256", "CBLS12381", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: upcomingFeatures + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // What operators of both servers share: version, log formats, readiness notification,
        // and the monitoring endpoints (`/metrics`, `/healthz`).
        .target(
            name: "ServerOperations",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // Registration and lookup servers over HTTP(S): the original's endpoints and config files.
        .target(
            name: "DP5Server",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                "DP5Core",
                "DP5Client",
                "ServerOperations",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // The client side of the servers: registration, lookups and TLS trust over HTTP(S).
        .target(
            name: "DP5Client",
            dependencies: [
                "DP5Core",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // The load harness: simulated users, answer checking, deployments to drive, and
        // `LocalCluster` (real servers on loopback, for `dp5 demo` and the live tests).
        .target(
            name: "DP5Harness",
            dependencies: [
                "DP5Core",
                "DP5Client",
                "DP5Server",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // glibc's mallopt, for `psepr server`'s allocator settings.
        .target(name: "CMallocTuning"),
        // Where XML character data stops being plain, sixteen bytes at a time (PsEPRCore's scanner).
        .target(name: "CXMLScan"),
        // PsEPR channel names, stream framing, stanza parsing and encoding, the route table. No sockets.
        .target(
            name: "PsEPRCore",
            dependencies: ["CXMLScan", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: upcomingFeatures + routingHotPath
        ),
        // The PsEPR server: listeners, sessions, router, Gleaner.
        .target(
            name: "PsEPRServer",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                "PsEPRCore",
                "ServerOperations",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: upcomingFeatures + routingHotPath
        ),
        // Load and in-process meshes for `psepr bench`, `psepr mesh-demo` and the tests: raw
        // publishers and counting subscribers, several servers meshed in one process. Not part of
        // the server library.
        .target(
            name: "PsEPRLoadGenerator",
            dependencies: [
                "PsEPRCore",
                "PsEPRServer",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // The PsEPR client: connection, login, self-renewing leases, OneEvent sender.
        .target(
            name: "PsEPRClient",
            dependencies: [
                "PsEPRCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "psepr",
            dependencies: [
                "CMallocTuning",
                .product(name: "NIOPosix", package: "swift-nio"),
                "PsEPRCore",
                "ServerOperations",
                "PsEPRServer",
                "PsEPRClient",
                "PsEPRLoadGenerator",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "dp5",
            dependencies: [
                "DP5Core",
                "ServerOperations",
                "DP5Client",
                "DP5Server",
                "DP5Harness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // What the DP5 test targets share: an epoch clock moved by hand, a server for a test's duration.
        .target(
            name: "DP5Testing",
            dependencies: [
                "DP5Core",
                "DP5Server",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/DP5Testing",
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "DP5ServerTests",
            dependencies: [
                "DP5Core", "DP5Client", "DP5Server", "DP5Harness", "DP5Testing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // What the PsEPR test targets share: the Stork client's literal messages, poison payloads,
        // a server for a test's duration, raw logged-in connections, a clock moved by hand.
        .target(
            name: "PsEPRTesting",
            dependencies: [
                "PsEPRCore",
                "PsEPRServer",
                "PsEPRLoadGenerator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/PsEPRTesting",
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "PsEPRClientTests",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                // DP5Server for its self-signed certificates (the TLS tests).
                "PsEPRCore", "PsEPRServer", "PsEPRClient", "PsEPRTesting", "PsEPRLoadGenerator", "DP5Server",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "PsEPRCoreTests",
            dependencies: [
                "PsEPRCore", "PsEPRTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "PsEPRServerTests",
            dependencies: [
                "PsEPRCore", "PsEPRServer", "PsEPRTesting", "PsEPRLoadGenerator",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // Operating both servers: metrics, health, the status page (in headless chromium), the
        // commands' --version and readiness notification, the install script.
        .testTarget(
            name: "OperationsTests",
            dependencies: [
                "ServerOperations", "PsEPRCore", "PsEPRServer", "PsEPRClient", "PsEPRTesting", "PsEPRLoadGenerator",
                "DP5Core", "DP5Server", "DP5Testing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "DP5HarnessTests",
            dependencies: ["DP5Core", "DP5Harness", "DP5Testing", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "DP5CoreTests",
            dependencies: [
                "DP5Core",
                "DP5Client",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: upcomingFeatures
        ),
    ],
    swiftLanguageModes: [.v6]
)
