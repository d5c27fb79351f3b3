// swift-tools-version:6.2
import PackageDescription

// Benchmarks of the project, apart from the product: the product build never compiles them.
// Micro-benchmarks run on ordo-one/benchmark (`swift package --package-path Benchmarks benchmark`);
// `dp5-bench` is the PIR kernel and HTTP benchmark with the memory read rate as reference.

// The product's own settings: upcoming features, warnings as errors.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "dp5-psepr-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dp5-bench", targets: ["DP5Benchmarks"])
    ],
    dependencies: [
        .package(name: "dp5-psepr", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // `dp5-bench`: the PIR kernels alone, BLS12-381, and a lookup server driven over HTTP, each
        // against the memory read rate (or another reference) measured in the same run.
        .executableTarget(
            name: "DP5Benchmarks",
            dependencies: [
                .product(name: "DP5Core", package: "dp5-psepr"),
                .product(name: "DP5Server", package: "dp5-psepr"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Per-event parsing and the route table, without sockets.
        .executableTarget(
            name: "PsEPRBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PsEPRCore", package: "dp5-psepr"),
                .product(name: "PsEPRLoadGenerator", package: "dp5-psepr"),
            ],
            path: "Benchmarks/PsEPRBenchmarks",
            swiftSettings: strict,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
