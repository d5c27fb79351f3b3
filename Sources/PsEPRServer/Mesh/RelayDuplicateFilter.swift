import PsEPRCore

/// Which relayed events this server has taken already: per origin and restart generation, a
/// sliding window over the origin's sequence numbers.
///
/// A window remembers the highest number seen and the 4,096 below it, so an event that arrives
/// again over another path (a loop in the mesh) is recognised as long as fewer than 4,096 of
/// its origin's later events overtook it; an older one is refused too (it cannot be told from
/// a duplicate, and a loss is the lesser harm). At most ``maximumOrigins`` windows are kept; the
/// one used longest ago goes first (a server that restarted leaves its old generation's window
/// to age out this way).
struct RelayDuplicateFilter {
    /// Sequence numbers remembered below the highest, per window.
    static let windowBits = 4096
    /// Windows kept at most (four generations of a full 101-server mesh, and some).
    static let maximumOrigins = 512

    private struct Key: Hashable {
        let origin: String
        let epoch: UInt64
    }

    private struct Window {
        var highest: UInt64 = 0
        /// Bit `n % windowBits` stands for number `n`, for `highest - windowBits < n <= highest`.
        var bits = [UInt64](repeating: 0, count: RelayDuplicateFilter.windowBits / 64)
        var lastUse: UInt64 = 0

        private func index(_ sequence: UInt64) -> (word: Int, mask: UInt64) {
            let bit = Int(sequence % UInt64(RelayDuplicateFilter.windowBits))
            return (bit / 64, 1 << UInt64(bit % 64))
        }

        /// Takes `sequence` if it was not seen; false for a repeat or one too old to tell.
        mutating func admit(_ sequence: UInt64) -> Bool {
            let size = UInt64(RelayDuplicateFilter.windowBits)
            if sequence > highest {
                if sequence - highest >= size {
                    for word in bits.indices { bits[word] = 0 }
                } else {
                    // Clear the numbers the window slides over.
                    var cleared = highest + 1
                    while cleared < sequence {
                        let (word, mask) = index(cleared)
                        bits[word] &= ~mask
                        cleared += 1
                    }
                }
                highest = sequence
                let (word, mask) = index(sequence)
                bits[word] |= mask
                return true
            }
            guard highest - sequence < size else { return false }
            let (word, mask) = index(sequence)
            if bits[word] & mask != 0 { return false }
            bits[word] |= mask
            return true
        }
    }

    private var windows: [Key: Window] = [:]
    private var uses: UInt64 = 0
    /// Relayed events refused as already taken (or too old to tell).
    private(set) var duplicates = 0

    /// Whether the event with `stamp` is new here; records it if so.
    mutating func admit(_ stamp: RelayStamp) -> Bool {
        let key = Key(origin: stamp.origin, epoch: stamp.epoch)
        uses += 1
        if windows[key] == nil, windows.count >= Self.maximumOrigins,
            let oldest = windows.min(by: { $0.value.lastUse < $1.value.lastUse })?.key
        {
            windows[oldest] = nil
        }
        let admitted = windows[key, default: Window()].admit(stamp.sequence)
        windows[key]?.lastUse = uses
        if !admitted { duplicates += 1 }
        return admitted
    }

    /// Windows held now.
    var origins: Int { windows.count }
}
