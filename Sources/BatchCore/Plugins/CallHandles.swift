import Synchronization

/// The `bc_call *` handles C code receives for processor calls.
///
/// A handle names a slot and the slot's generation. When the call ends the
/// slot moves on to its next generation, so a handle kept past its call no
/// longer matches and is refused: it can never reach the call that reuses
/// the slot (another document). Slots are reused and never freed, so looking
/// up a stale handle is always safe, from any thread, at any time.
final class CallHandles: Sendable {
    static let shared = CallHandles()

    /// What a slot serves now. Its lock also serialises the uses of a handle
    /// with the end of its call: once `close` returned, nothing more reaches
    /// the call, and the engine may read what it collected.
    private typealias Slot = Locked<SlotState>

    private struct SlotState {
        var generation: UInt64 = 1
        var call: CallContext? = nil
    }

    /// Slots by index. A table never changes: it is replaced by a larger
    /// copy, and every table and slot stays alive, so a reader holding an
    /// old table still finds the same slots. Slots are reached unretained:
    /// every thread's call would otherwise count references on the same
    /// few words, which made each call wait on the other cores' caches.
    private final class Table: @unchecked Sendable {  // @unchecked: `slots` is written only by init
        let count: Int
        private let slots: UnsafeMutablePointer<Unmanaged<Slot>>  // never freed, as the table

        /// The slots of `old` (none for the first table), then new ones up to `count`.
        init(extending old: Table?, to count: Int) {
            self.count = count
            slots = .allocate(capacity: count)
            let kept = old?.count ?? 0
            if let old { slots.initialize(from: old.slots, count: kept) }
            for index in kept..<count { (slots + index).initialize(to: .passRetained(Slot(SlotState()))) }
        }

        /// `body` with slot `index`, or nil past the end.
        func withSlot<R>(_ index: Int, _ body: (Slot) -> R) -> R? {
            index < count ? slots[index]._withUnsafeGuaranteedRef(body) : nil
        }
    }

    private struct Spare {
        var free: [Int] = []
        var tables: [Table] = []
    }

    private static let indexBits: UInt64 = 24
    private static let generationLimit: UInt64 = 1 << (64 - indexBits)

    private let current: Atomic<Unmanaged<Table>>
    private let spare: Locked<Spare>

    private init() {
        let first = Table(extending: nil, to: 64)
        current = Atomic(Unmanaged.passUnretained(first))
        spare = Locked(Spare(free: Array((0..<first.count).reversed()), tables: [first]))
    }

    /// A handle for `call`, valid until `close`.
    func open(_ call: CallContext) -> OpaquePointer {
        let index = spare.withLock { spare in spare.free.popLast() ?? grow(&spare) }
        let generation = withSlot(index) { slot in
            slot.withLock { state in
                state.call = call
                return state.generation
            }
        }!
        return OpaquePointer(bitPattern: UInt(generation << Self.indexBits | UInt64(index)))!
    }

    /// Ends the handle: from now on it is refused.
    func close(_ handle: OpaquePointer) {
        let (index, _) = Self.decode(handle)
        withSlot(index) { slot in
            slot.withLock { state in
                state.call = nil
                state.generation = state.generation + 1 < Self.generationLimit ? state.generation + 1 : 1
            }
        }
        spare.withLock { $0.free.append(index) }
    }

    /// Runs `body` with the handle's call while it lasts; nil for a handle
    /// whose call has ended (or that never was one).
    func withCall<R>(_ handle: OpaquePointer, _ body: (CallContext) -> R) -> R? {
        let (index, generation) = Self.decode(handle)
        return withSlot(index) { slot in
            slot.withLock { state in
                guard state.generation == generation, let call = state.call else { return nil }
                return body(call)
            }
        } ?? nil
    }

    private func withSlot<R>(_ index: Int, _ body: (Slot) -> R) -> R? {
        current.load(ordering: .acquiring)._withUnsafeGuaranteedRef { $0.withSlot(index, body) }
    }

    /// Doubles the table; returns a new slot's index. Called with `spare` locked.
    private func grow(_ spare: inout Spare) -> Int {
        let old = spare.tables.last!
        precondition(old.count * 2 <= 1 << Self.indexBits, "more than \(1 << Self.indexBits) processor calls at once")
        let table = Table(extending: old, to: old.count * 2)
        spare.tables.append(table)
        current.store(Unmanaged.passUnretained(table), ordering: .releasing)
        spare.free += (old.count + 1..<table.count).reversed()
        return old.count
    }

    private static func decode(_ handle: OpaquePointer) -> (index: Int, generation: UInt64) {
        let raw = UInt64(UInt(bitPattern: handle))
        return (Int(raw & (1 << indexBits - 1)), raw >> indexBits)
    }
}
