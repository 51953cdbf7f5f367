/// The ids seen so far, to refuse duplicates, with where each was first
/// seen (a 64-bit place the caller packs, e.g. source and line).
///
/// Memory: an id is kept as a 128-bit hash, never as text: 24 bytes an id
/// in a table at most three-quarters full, so 1,000,000 ids take about
/// 50 MB however long they are. Two different ids share a 128-bit hash with a chance far below
/// 10^-20 even for a billion ids, so equal hashes are taken as equal ids.
struct IdRegistry {
    /// An id's hash and where it was first seen. Equal and hashed by the
    /// id's hash alone, so that one `Set.insert` both looks an id up and
    /// records it.
    private struct Entry: Hashable {
        let first: Int
        let second: Int
        let place: UInt64

        static func == (a: Entry, b: Entry) -> Bool { a.first == b.first && a.second == b.second }

        func hash(into hasher: inout Hasher) { hasher.combine(first) }
    }

    private var entries = Set<Entry>()

    var count: Int { entries.count }

    /// Records `id` at `place`; returns the place it was first recorded at
    /// when it was already there.
    mutating func insert(_ id: String, at place: UInt64) -> UInt64? {
        var id = id
        return id.withUTF8 { insert(UnsafeRawBufferPointer($0), at: place) }
    }

    mutating func insert(_ id: [UInt8], at place: UInt64) -> UInt64? {
        id.withUnsafeBytes { insert($0, at: place) }
    }

    /// Forgets `id`, recorded by mistake (a refused addition undone).
    mutating func remove(_ id: String) {
        var id = id
        entries.remove(id.withUTF8 { Self.entry(UnsafeRawBufferPointer($0), at: 0) })
    }

    private mutating func insert(_ id: UnsafeRawBufferPointer, at place: UInt64) -> UInt64? {
        let (inserted, earlier) = entries.insert(Self.entry(id, at: place))
        return inserted ? nil : earlier.place
    }

    private static func entry(_ id: UnsafeRawBufferPointer, at place: UInt64) -> Entry {
        // Two SipHash states told apart by a leading byte: independent halves.
        var first = Hasher()
        var second = Hasher()
        first.combine(UInt8(1))
        second.combine(UInt8(2))
        first.combine(bytes: id)
        second.combine(bytes: id)
        return Entry(first: first.finalize(), second: second.finalize(), place: place)
    }
}
