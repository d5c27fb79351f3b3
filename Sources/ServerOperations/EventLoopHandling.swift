import HummingbirdCore
import Logging
import NIOCore

/// A connection's request handling run on the connection's own event loop.
///
/// Hummingbird handles each connection in a task on Swift's cooperative pool: every request part
/// the event loop reads wakes a pool thread for that task, and every part the task writes wakes
/// the event loop again. On a small machine those wake-ups were most of a short request's time
/// (a `GET /` took 0.5 ms on 2 cores against the microseconds its handler runs). With the
/// connection's event loop as the task's preferred executor, the handler runs where its bytes
/// arrive and leave; it still suspends wherever it awaits (an actor with an executor of its own,
/// a PIR pass on its threads), so an event loop is held only by work that would otherwise hold a
/// pool thread.
struct HandledOnEventLoop<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// Runs a task's jobs on an event loop.
final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
