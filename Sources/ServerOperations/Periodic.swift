/// Repeats `body` after each pause on `clock` until the task is cancelled: the one loop every
/// periodic job of both servers runs in. `pause` is asked before each wait, so a period changed
/// while the server runs applies from the next round; the clock is injected so tests move time
/// by hand instead of waiting for it.
public func repeatWithPauses(on clock: any Clock<Duration>, pause: () async -> Duration, _ body: () async -> Void) async
{
    while !Task.isCancelled {
        do { try await clock.sleep(for: await pause()) } catch { return }
        await body()
    }
}

/// Repeats `body` every `seconds` on `clock` until the task is cancelled.
public func repeatEvery(seconds: Double, on clock: any Clock<Duration>, _ body: () async -> Void) async {
    await repeatWithPauses(on: clock, pause: { .seconds(seconds) }, body)
}
