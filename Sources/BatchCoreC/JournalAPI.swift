import BatchCore
import CBatchCore

/// What bc_journal* points to.
final class JournalHandle {
    let reader: JournalReader
    init(_ reader: JournalReader) { self.reader = reader }
}

private func journalOf(_ pointer: OpaquePointer?) throws -> JournalReader {
    try borrow(pointer, as: JournalHandle.self, "journal").reader
}

private func statusFilter(_ status: Int32) throws -> DocumentStatus? {
    guard status != 0 else { return nil }
    guard let filter = DocumentStatus(rawValue: status) else {
        throw invalid("status \(status) is not a bc_status (1 ok, 2 partial, 3 failed, 4 skipped) or 0 for all")
    }
    return filter
}

@c public func bc_journal_open(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ path: UnsafePointer<CChar>?) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        out.pointee = retain(JournalHandle(try JournalReader(path: string(path, "path"))))
    }
}

@c public func bc_journal_free(_ journal: OpaquePointer?) {
    release(journal, as: JournalHandle.self)
}

@c public func bc_journal_summary_get(_ out: UnsafeMutablePointer<bc_journal_summary>?, _ journal: OpaquePointer?) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        let s = try journalOf(journal).summary(lastErrors: 0)
        try copyVersioned(bc_journal_summary(
            struct_size: UInt32(MemoryLayout<bc_journal_summary>.size), runs: UInt32(s.runs.count),
            ok: UInt64(s.ok), partial: UInt64(s.partial), failed: UInt64(s.failed), skipped: UInt64(s.skipped),
            attempts: UInt64(s.attempts), input_tokens: UInt64(s.inputTokens), output_tokens: UInt64(s.outputTokens),
            docs_per_hour: s.docsPerHour), to: out)
    }
}

@c public func bc_journal_results(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ journal: OpaquePointer?, _ status: Int32) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        let reader = try journalOf(journal)
        let cursor = try reader.results(status: try statusFilter(status))
        out.pointee = retain(ResultsCursor { _ = reader; return try cursor.next() })
    }
}

@c public func bc_journal_export(_ journal: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ format: UnsafePointer<CChar>?, _ status: Int32) -> Int32 {
    capi {
        let reader = try journalOf(journal)
        let name = try string(format, "format")
        guard let format = JournalReader.ExportFormat(rawValue: name) else {
            throw invalid("export format '\(name)': expected jsonl, json or csv")
        }
        try reader.export(to: string(path, "path"), format: format, status: try statusFilter(status))
    }
}
