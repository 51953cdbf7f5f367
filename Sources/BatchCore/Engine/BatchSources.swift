/// The sources a batch is given, with what its start would otherwise read
/// them all again for: the largest in-memory content, and the ids of the
/// sources of one document (files, contents).
struct BatchSources {
    private(set) var all: [DocumentSource] = []
    /// The largest in-memory content among them: a size limit set after
    /// they were added is checked source by source only when below it.
    private var largestContent = 0
    /// The `onlyId` of each source that has one, at that source's place.
    private var onlyIds = IdRegistry()
    /// Whether two of those ids were equal: then the start reads every
    /// source to name both places, as for any other duplicate.
    private var onlyIdRepeats = false

    /// Appends `source`, refused when its content is over `limit`. A
    /// repeated id is refused at the start, which names both places.
    mutating func append(_ source: DocumentSource, limit: Int) throws {
        try ContentLimit.check(source, limit: limit)
        if let id = source.onlyId, onlyIds.insert(id, at: SourceReader.place(source: all.count)) != nil {
            onlyIdRepeats = true
        }
        largestContent = max(largestContent, source.largestContentBytes)
        all.append(source)
    }

    /// Appends documents held in memory, all or none: one over `limit`, or
    /// whose id is given twice among them or was given before to a file or
    /// a content, refuses them all, its error saying which it is.
    mutating func append(contents: [ContentSource], limit: Int) throws {
        for index in contents.indices {
            do {
                try numbered(index, of: contents.count) {
                    try ContentLimit.check(contents[index], limit: limit)
                    try recordUnique(contents[index].document.id, at: all.count + index, call: all.count..<all.count + contents.count)
                }
            } catch {
                for earlier in contents[..<index] { onlyIds.remove(earlier.document.id) }
                throw error
            }
        }
        for source in contents { largestContent = max(largestContent, source.largestContentBytes) }
        all.append(contentsOf: contents as [DocumentSource])
    }

    /// Records the id of the source at `index`; refuses an id recorded
    /// before, naming where: an earlier source, or one of the sources at
    /// `call`, given together with it.
    private mutating func recordUnique(_ id: String, at index: Int, call: Range<Int>) throws {
        guard let first = onlyIds.insert(id, at: SourceReader.place(source: index)) else { return }
        let firstIndex = SourceReader.source(of: first)
        let firstGiven = call.contains(firstIndex)
            ? "as document \(firstIndex - call.lowerBound + 1) of \(call.count)"
            : "in \(all[firstIndex].identity), added before"
        throw BatchCoreError(.input, "duplicate id \(quotedForMessage(id)), first given \(firstGiven); "
            + "ids must be unique in a batch: give each document its own id")
    }

    /// The sources as `options` would have them read (see `DocumentSource.applying`).
    func applying(_ options: BatchOptions) -> [DocumentSource] {
        var applied = all
        for index in applied.indices {
            if let source = applied[index].applying(options) { applied[index] = source }
        }
        return applied
    }

    /// Refuses a content over `limit`, a limit set after the sources were added.
    func checkContent(limit: Int) throws {
        guard largestContent > limit else { return }
        for source in all { try ContentLimit.check(source, limit: limit) }
    }

    /// A reader of `sources` (these, as the options would have them read)
    /// that checks again only the ids not already known to be unique.
    func reader(of sources: [DocumentSource]) -> SourceReader {
        SourceReader(sources: sources, onlyIds: onlyIdRepeats ? nil : onlyIds)
    }
}
