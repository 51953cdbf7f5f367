/// Reads a batch's sources one after the other, lazily, and keeps ids
/// unique across them.
///
/// Sources that can be read twice are checked before the batch runs
/// (`checkUniqueIds`); a stream (a source with no known count, such as
/// standard input) can be read only once, so its ids are checked as they
/// come, against every id before them.
struct SourceReader {
    enum Next {
        case document(Document)
        /// A document of a stream whose id an earlier document has; `firstAt`
        /// says where that one came from.
        case duplicate(Document, firstAt: String)
        case sourceError(BatchCoreError)
        case end
    }

    private let sources: [DocumentSource]
    private var nextSource = 0
    private var current: (any DocumentIterator)? = nil
    private var currentIsStream = false
    /// Every id so far, when a stream must be checked; else empty.
    private var ids: IdRegistry
    /// Whether `checkUniqueIds` reads the sources with one known id too.
    private let readsOnlyIds: Bool
    /// Documents returned so far: the next one's index in input order.
    private(set) var count = 0

    /// `onlyIds`: the ids of the sources with one known id (`onlyId`), one
    /// each, already found unique and placed as `place` has it, so that
    /// `checkUniqueIds` does not read those sources again.
    init(sources: [DocumentSource] = [], onlyIds: IdRegistry? = nil) {
        self.sources = sources
        ids = onlyIds ?? IdRegistry()
        readsOnlyIds = onlyIds == nil
    }

    /// Reads every source that can be read twice and throws `.input` on the
    /// first id seen twice, naming both places. Costs nothing for a single
    /// source whose ids are unique by construction (a directory, a
    /// manifest, a file), and reads no source among `onlyIds`.
    mutating func checkUniqueIds() throws {
        let hasStream = sources.contains { $0.knownCount == nil }
        defer { if !hasStream { ids = IdRegistry() } }  // nothing left to check against
        guard sources.count > 1 || sources.contains(where: { !$0.idsAreUnique }) else { return }
        // Every source has its one id among `onlyIds`: all are unique.
        guard readsOnlyIds || ids.count < sources.count else { return }
        for (index, source) in sources.enumerated() where source.knownCount != nil && (readsOnlyIds || source.onlyId == nil) {
            let iterator = try source.makeIterator()
            while let document = try iterator.next() {
                let place = Self.place(source: index, line: iterator.line)
                if let known = ids.insert(document.id, at: place) {
                    // A source of one id, known before, may come later.
                    let (first, again) = (min(known, place), max(known, place))
                    throw BatchCoreError(.input, "duplicate id \(quotedForMessage(document.id)) in \(describe(again)), "
                        + "first in \(describe(first)); ids must be unique in a batch: give each input once, "
                        + "or give the documents distinct ids (a manifest's \"id\")")
                }
            }
        }
    }

    mutating func next() -> Next {
        while true {
            if current == nil {
                guard nextSource < sources.count else { return .end }
                let source = sources[nextSource]
                nextSource += 1
                do {
                    current = try source.makeIterator()
                    currentIsStream = source.knownCount == nil
                } catch {
                    return .sourceError(Self.wrap(error))
                }
            }
            do {
                if let iterator = current, let document = try iterator.next() {
                    count += 1
                    if currentIsStream, let first = ids.insert(document.id, at: Self.place(source: nextSource - 1, line: iterator.line)) {
                        return .duplicate(document, firstAt: describe(first))
                    }
                    return .document(document)
                }
                current = nil
            } catch {
                current = nil
                return .sourceError(Self.wrap(error))
            }
        }
    }

    /// Source index and line in one number, 32 bits each: a batch may
    /// have a source for each of millions of documents held in memory.
    static func place(source: Int, line: Int = 0) -> UInt64 {
        UInt64(source) << 32 | UInt64(line & 0xFFFF_FFFF)
    }

    /// The source index of a place.
    static func source(of place: UInt64) -> Int {
        Int(place >> 32)
    }

    /// "manifest a.jsonl, line 3", "directory docs".
    private func describe(_ place: UInt64) -> String {
        let line = place & 0xFFFF_FFFF
        return sources[Self.source(of: place)].identity + (line > 0 ? ", line \(line)" : "")
    }

    private static func wrap(_ error: Error) -> BatchCoreError {
        (error as? BatchCoreError) ?? BatchCoreError(.input, "\(error)")
    }
}
