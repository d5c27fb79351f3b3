import NIOCore
import PsEPRCore
import Synchronization

/// What a connection's reader collects while routing one read's worth of stanzas, kept between
/// reads to spare allocations.
struct RoutingScratch {
    /// The subscribers of the event being routed.
    var matched: [Destination] = []
    /// Subscribers' queues that got stanzas during this read and need a drain at its end.
    var drains: [OutboundQueue] = []
    /// Subscribers' queues that passed their high-water mark during this read.
    var congested: [OutboundQueue] = []
    /// The stanza being delivered, written once per event and copied into each queue; reused,
    /// so routing an event allocates nothing once it has grown to the largest stanza.
    var stanza = ByteBufferAllocator().buffer(capacity: 1024)
    /// The same stanza inside a relay stamp, for peer links in a relaying mesh.
    var relayedStanza = ByteBufferAllocator().buffer(capacity: 0)
    /// The reader's last route-table lookup, and how many it has made (which one the batches
    /// were gathered for).
    var lastRoute: Lookup?
    var lookups: UInt64 = 0
    var batchedLookup: UInt64 = 0
    /// Deliveries to client connections gathered while the reader routes events to the same
    /// subscribers, one per subscriber in the order the lookup lists them; each goes to its queue
    /// in one piece (one lock, one copy at most) when the read ends, before anything else the
    /// reader sends, or when the subscribers change.
    var batches: [Batch] = []

    struct Batch {
        let queue: OutboundQueue
        var bytes = ByteBuffer()
        var sizes: [Int] = []
        /// The size of the last batch handed over: the next starts with room for as much.
        var lastBytes = 0

        init(queue: OutboundQueue) { self.queue = queue }

        mutating func add(_ stanza: ByteBuffer) {
            if bytes.capacity == 0 {
                bytes = ByteBufferAllocator().buffer(
                    capacity: max(OutboundQueue.initialPendingCapacity, lastBytes + lastBytes / 4)
                )
            }
            sizes.append(bytes.writeImmutableBuffer(stanza))
        }
    }

    /// Hands every gathered batch to its queue, noting drains and congestion as routing does.
    mutating func flushBatches() {
        for index in batches.indices where !batches[index].sizes.isEmpty {
            let queue = batches[index].queue
            let outcome = queue.enqueueDeferringDrain(batch: batches[index].bytes, sizes: batches[index].sizes)
            // The queue may now own the buffer: the next batch starts a new one.
            batches[index].lastBytes = batches[index].bytes.readableBytes
            batches[index].bytes = ByteBuffer()
            batches[index].sizes.removeAll(keepingCapacity: true)
            if outcome.needsDrain { drains.append(queue) }
            if outcome.congested { noteCongested(queue) }
        }
    }

    /// One route-table lookup and what it found.
    struct Lookup {
        let channel: ChannelName
        let namespace: String?
        let toService: String?
        let toInstance: String?
        /// The table's generation at the lookup.
        let generation: UInt64
        /// The first expiry among the leases matched (nil: none matched).
        let validUntil: ContinuousClock.Instant?
        let subscribers: [Destination]

        init(event: Event, generation: UInt64, validUntil: ContinuousClock.Instant?, subscribers: [Destination]) {
            (channel, namespace, toService, toInstance) = (
                event.channel, event.payloadNamespace, event.toService, event.toInstance
            )
            self.generation = generation
            self.validUntil = validUntil
            self.subscribers = subscribers
        }

        /// Whether a lookup for `event` now would find the same subscribers.
        func answers(_ event: Event, generation: UInt64, now: ContinuousClock.Instant) -> Bool {
            generation == self.generation && validUntil.map { now < $0 } ?? true && event.channel == channel
                && event.payloadNamespace == namespace && event.toService == toService && event.toInstance == toInstance
        }
    }

    /// Notes a queue past its high-water mark (once per read).
    mutating func noteCongested(_ queue: OutboundQueue) {
        if !congested.contains(where: { $0 === queue }) { congested.append(queue) }
    }

    /// At the end of a read: one drain per touched queue, and the reader's `gate` held by
    /// every congested one (no gate: a reader that is never held back).
    mutating func finishRead(gate: ReadGate?) {
        flushBatches()
        for queue in drains { queue.scheduleDrain() }
        drains.removeAll(keepingCapacity: true)
        if let gate { for queue in congested { queue.holdBack(gate) } }
        congested.removeAll(keepingCapacity: true)
    }
}
