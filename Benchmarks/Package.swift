// swift-tools-version:6.2
import PackageDescription

// Benchmarks of the project, apart from the product: the product build never compiles them.
// Micro-benchmarks run on ordo-one/benchmark (`swift package --package-path Benchmarks benchmark`);
// `dp5-bench` is the PIR kernel and HTTP benchmark with the memory read rate as reference.
let package = Package(
    name: "dp5-psepr-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "dp5-psepr", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Per-event parsing and the route table, without sockets.
        .executableTarget(
            name: "PsEPRBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PsEPRCore", package: "dp5-psepr"),
                .product(name: "PsEPRLoadGenerator", package: "dp5-psepr"),
            ],
            path: "Benchmarks/PsEPRBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
