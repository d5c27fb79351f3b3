import ArgumentParser
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// The HTTP clients `dp5-bench http` can drive the server with.
enum BenchmarkHTTPClient: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// ``LoopbackHTTPConnection``: requests sent and timed on the connection's event loop.
    case nio
    /// AsyncHTTPClient, requests sent and timed from a task (what the benchmark first used).
    case asyncHTTPClient = "async-http-client"
}

/// The lookup requests of one row.
struct BenchmarkRequests: Sendable {
    let path: String
    let body: ByteBuffer
    /// The least bytes of a good answer.
    let expectedBytes: Int
}

/// The clients of a row and the prober, over one HTTP client.
protocol BenchmarkHTTPDriver: Sendable {
    /// `requests` lookups one after another on client `client`'s connection; their latencies.
    func send(_ lookups: BenchmarkRequests, requests: Int, client: Int) async throws -> Latencies
    /// `GET /` every 10 ms on a connection of its own until `finished` is raised; their latencies.
    func probe(until finished: ManagedFlag) async -> Latencies
    func shutdown() async
}

/// One ``LoopbackHTTPConnection`` per client and one for the prober.
struct NIODriver: BenchmarkHTTPDriver {
    let connections: [LoopbackHTTPConnection]
    let prober: LoopbackHTTPConnection

    init(port: Int, clients: Int) async throws {
        var connections: [LoopbackHTTPConnection] = []
        for _ in 0..<clients { connections.append(try await .connect(host: "127.0.0.1", port: port)) }
        self.connections = connections
        prober = try await .connect(host: "127.0.0.1", port: port)
    }

    func send(_ lookups: BenchmarkRequests, requests: Int, client: Int) async throws -> Latencies {
        try await connections[client].run(
            .init(
                method: .POST,
                path: lookups.path,
                body: lookups.body,
                count: requests,
                minimumBodyBytes: lookups.expectedBytes
            )
        )
    }

    func probe(until finished: ManagedFlag) async -> Latencies {
        (try? await prober.run(.init(method: .GET, path: "/", stop: finished, pause: .milliseconds(10))))
            ?? Latencies()
    }

    func shutdown() async {
        for connection in connections { await connection.close() }
        await prober.close()
    }
}

/// AsyncHTTPClient: one pooled connection per client, and a client of its own for the prober.
struct AsyncHTTPClientDriver: BenchmarkHTTPDriver {
    let base: String
    let client: HTTPClient
    let prober: HTTPClient

    init(base: String, clients: Int) {
        self.base = base
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = clients
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        prober = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    func send(_ lookups: BenchmarkRequests, requests: Int, client _: Int) async throws -> Latencies {
        var latencies = Latencies()
        for _ in 0..<requests {
            var request = HTTPClientRequest(url: base + lookups.path)
            request.method = .POST
            request.body = .bytes(lookups.body)
            let sent = ContinuousClock.now
            let response = try await client.execute(request, timeout: .seconds(600))
            let reply = try await response.body.collect(upTo: lookups.expectedBytes + 64)
            guard response.status == .ok, reply.readableBytes >= lookups.expectedBytes else {
                throw BenchmarkHTTPError(
                    description:
                        "the lookup server answered \(response.status) with \(reply.readableBytes) bytes, expected \(lookups.expectedBytes)+"
                )
            }
            latencies.add(ContinuousClock.now - sent)
        }
        return latencies
    }

    func probe(until finished: ManagedFlag) async -> Latencies {
        var probes = Latencies()
        while !finished.isRaised {
            let sent = ContinuousClock.now
            _ = try? await prober.execute(HTTPClientRequest(url: base + "/"), timeout: .seconds(30)).body.collect(
                upTo: 1 << 16
            )
            probes.add(ContinuousClock.now - sent)
            try? await Task.sleep(for: .milliseconds(10))
        }
        return probes
    }

    func shutdown() async {
        try? await client.shutdown()
        try? await prober.shutdown()
    }
}
