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
    /// The envelope of the reader's last route-table lookup (what it found is beside
    /// ``remember(_:subscribers:envelope:generation:validUntil:)``), and how many it has made
    /// (which one the batches were gathered for).
    private(set) var lastRoute: Lookup?
    private(set) var lookups: UInt64 = 0
    /// Deliveries to client connections gathered while the reader routes events to the same
    /// subscribers (those of lookup ``batchedLookup``). Every client subscriber of one lookup
    /// gets the same stanzas, so they are gathered once, in ``batch``, and each of
    /// ``batchQueues`` is handed the same buffer (shared, not copied; one lock each) when the
    /// read ends, before anything else the reader sends, or when the subscribers change.
    var batch = Batch()
    private(set) var batchQueues: [OutboundQueue] = []
    private(set) var batchedLookup: UInt64?
    /// Whether every subscriber of ``batchedLookup`` is one of ``batchQueues``: nothing else
    /// to deliver to one by one.
    private(set) var batchCoversAll = false

    struct Batch {
        var bytes = ByteBuffer()
        var sizes: [Int] = []
        /// The size of the last batch handed over: the next starts with room for as much.
        var lastBytes = 0

        mutating func add(_ stanza: ByteBuffer) {
            reserve()
            sizes.append(bytes.writeImmutableBuffer(stanza))
        }

        /// Writes the message `m<number>` forwarding `element` straight into the batch (one
        /// copy fewer than writing it elsewhere and adding it); returns its size.
        mutating func addMessage(forwarding element: ByteBuffer, number: UInt64) -> Int {
            reserve()
            let start = bytes.writerIndex
            StanzaEncoder.writeMessage(forwarding: element, number: number, into: &bytes)
            sizes.append(bytes.writerIndex - start)
            return bytes.writerIndex - start
        }

        /// ``addMessage(forwarding:number:)`` for each of `elements`, ranges of `source`'s
        /// readable bytes, numbered on from `firstNumber`.
        mutating func addMessages(forwarding source: ByteBuffer, elements: [Range<Int>], firstNumber: UInt64) {
            reserve()
            StanzaEncoder.writeMessages(
                forwarding: source,
                elements: elements,
                firstNumber: firstNumber,
                into: &bytes,
                sizes: &sizes
            )
        }

        /// The last stanza added, `size` bytes long, as a slice.
        func lastStanza(size: Int) -> ByteBuffer { bytes.getSlice(at: bytes.writerIndex - size, length: size)! }

        /// A batch handed over starts a new buffer, with room for as much as the last.
        private mutating func reserve() {
            if bytes.capacity == 0 {
                bytes = ByteBufferAllocator().buffer(
                    capacity: max(OutboundQueue.initialPendingCapacity, lastBytes + lastBytes / 4)
                )
            }
        }
    }

    /// Hands the gathered batch to each of its queues, noting drains and congestion as routing does.
    mutating func flushBatches() {
        guard !batch.sizes.isEmpty else { return }
        // The queues keep the buffer until their sockets take it, so it goes on no more than
        // twice as large as what it holds: a batch in a buffer mostly empty is copied into one
        // that fits (once, for every subscriber), and the buffer gathers the next batch.
        var handed = batch.bytes
        let fits = handed.capacity <= 2 * handed.readableBytes
        if !fits {
            handed = ByteBufferAllocator().buffer(capacity: batch.bytes.readableBytes)
            handed.writeImmutableBuffer(batch.bytes)
        }
        for queue in batchQueues {
            let outcome = queue.enqueueDeferringDrain(batch: handed, sizes: batch.sizes)
            if outcome.needsDrain { drains.append(queue) }
            if outcome.congested { noteCongested(queue) }
        }
        batch.lastBytes = batch.bytes.readableBytes
        if fits {
            // The queues may now own the buffer: the next batch starts a new one.
            batch.bytes = ByteBuffer()
        } else {
            batch.bytes.clear()
        }
        batch.sizes.removeAll(keepingCapacity: true)
    }

    /// Hands over what was gathered, then gathers for the client subscribers among
    /// `subscribers`, those of the current lookup (nil: for nobody, until one is gathered for).
    mutating func gather(for subscribers: [Destination]?) {
        flushBatches()
        batchQueues.removeAll(keepingCapacity: true)
        guard let subscribers else {
            (batchedLookup, batchCoversAll) = (nil, false)
            return
        }
        for case .connection(let queue) in subscribers where queue.role == .client { batchQueues.append(queue) }
        (batchedLookup, batchCoversAll) = (lookups, !subscribers.isEmpty && batchQueues.count == subscribers.count)
    }

    /// The router's clock, read once for many events of a read (a clock read per event costs
    /// more than routing it): again after ``instantReuse`` events and at each read's end, when
    /// whether the last lookup's leases are all still live is checked.
    private var cachedInstant = ContinuousClock.Instant.now
    private var instantUses = RoutingScratch.instantReuse
    static let instantReuse = 256

    /// Counts an event to route; reads the clock every ``instantReuse`` events.
    mutating func tickClock(_ now: () -> ContinuousClock.Instant, events: Int = 1) {
        instantUses += events
        guard instantUses >= Self.instantReuse else { return }
        let instant = now()
        (cachedInstant, instantUses) = (instant, 0)
        if lastLive, let lastValidUntil { lastLive = instant < lastValidUntil }
    }

    /// The time the current event is routed at (after ``tickClock(_:)``).
    var instant: ContinuousClock.Instant { cachedInstant }

    /// What the last lookup is checked by, kept apart from ``lastRoute`` so the check per event
    /// reads a few words in place (a copy of the lookup would cost a retain per field): whether
    /// its leases were live at the last ``instant``, the table generation and the caller's
    /// envelope number it was made for, its first expiry, and its subscribers.
    private(set) var lastLive = false
    private(set) var lastGeneration: UInt64 = 0
    private(set) var lastEnvelope: UInt64?
    private var lastValidUntil: ContinuousClock.Instant?
    private(set) var lastSubscribers: [Destination] = []
    /// Whether a peer link is among ``lastSubscribers``.
    private(set) var lastLeasedByPeer = false

    /// Keeps a lookup made at the current ``instant``.
    mutating func remember(
        _ lookup: Lookup,
        subscribers: [Destination],
        envelope: UInt64?,
        generation: UInt64,
        validUntil: ContinuousClock.Instant?
    ) {
        lastRoute = lookup
        lastSubscribers = subscribers
        lastLeasedByPeer = subscribers.contains(where: \.isPeer)
        (lastEnvelope, lastGeneration, lastValidUntil, lastLive) = (envelope, generation, validUntil, true)
        lookups &+= 1
    }

    /// Whether a lookup for `event` now would find the last one's subscribers: the same table, no
    /// lease expired, the same envelope (by the caller's number when it is the last one's, else
    /// field by field).
    func lastRouteAnswers(_ event: Event, envelope: UInt64?, generation: UInt64) -> Bool {
        guard lastLive, generation == lastGeneration else { return false }
        if let envelope, envelope == lastEnvelope { return true }
        return lastRoute?.matches(event) == true
    }

    /// The envelope of one route-table lookup.
    struct Lookup {
        let channel: ChannelName
        let namespace: String?
        let toService: String?
        let toInstance: String?

        init(event: Event) {
            (channel, namespace, toService, toInstance) = (
                event.channel, event.payloadNamespace, event.toService, event.toInstance
            )
        }

        /// Whether `event` has this envelope.
        func matches(_ event: Event) -> Bool {
            event.channel == channel && event.payloadNamespace == namespace && event.toService == toService
                && event.toInstance == toInstance
        }
    }

    /// Whether a queue this read fed has passed its high-water mark, or will when the batch is
    /// handed over, so the reader is about to be held back: a reader asks between runs, to stop
    /// before it adds more. The batch stays gathered (handed over at the end of the read, as
    /// always: handing it over in pieces would copy each piece out of its large buffer); should
    /// the queue have drained meanwhile, the reader is not held and goes on at once.
    func passedHighWater() -> Bool {
        if !congested.isEmpty { return true }
        guard !batch.sizes.isEmpty else { return false }
        let bytes = batch.bytes.readableBytes
        return batchQueues.contains { $0.wouldPassHighWater(adding: bytes) }
    }

    /// Notes a queue past its high-water mark (once per read).
    mutating func noteCongested(_ queue: OutboundQueue) {
        if !congested.contains(where: { $0 === queue }) { congested.append(queue) }
    }

    /// At the end of a read: one drain per touched queue, and the reader's `gate` held by
    /// every congested one (no gate: a reader that is never held back).
    mutating func finishRead(gate: ReadGate?) {
        instantUses = Self.instantReuse
        flushBatches()
        for queue in drains { queue.scheduleDrain() }
        drains.removeAll(keepingCapacity: true)
        if let gate { for queue in congested { queue.holdBack(gate) } }
        congested.removeAll(keepingCapacity: true)
    }
}
