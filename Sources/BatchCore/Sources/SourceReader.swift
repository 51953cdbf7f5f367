/// Reads a batch's sources one after the other, lazily.
struct SourceReader {
    enum Next {
        case document(Document)
        case sourceError(BatchCoreError)
        case end
    }

    private var pending: [DocumentSource]
    private var current: (any DocumentIterator)? = nil
    /// Documents returned so far: the next one's index in input order.
    private(set) var count = 0

    init(sources: [DocumentSource] = []) {
        pending = sources.reversed()
    }

    mutating func next() -> Next {
        while true {
            if current == nil {
                guard let source = pending.popLast() else { return .end }
                do {
                    current = try source.makeIterator()
                } catch {
                    return .sourceError(Self.wrap(error))
                }
            }
            do {
                if let document = try current?.next() {
                    count += 1
                    return .document(document)
                }
                current = nil
            } catch {
                current = nil
                return .sourceError(Self.wrap(error))
            }
        }
    }

    private static func wrap(_ error: Error) -> BatchCoreError {
        (error as? BatchCoreError) ?? BatchCoreError(.input, "\(error)")
    }
}
