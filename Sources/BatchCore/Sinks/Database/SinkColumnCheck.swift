/// Fails a document whose JSON output does not fit `sink.columns` (a
/// string where an integer is declared), as its result is formed: the
/// document, and only it, is `failed` in the journal, the output and every
/// sink, instead of stopping a sink that could not write its row.
struct SinkColumnCheck: Sendable {
    private let columns: [SinkColumn]
    /// "the table 'seen'" or "the tables 'a', 'b'".
    private let tables: String

    /// nil when no sink maps fields of the output.
    init?(_ sinks: [DatabaseSink]) {
        guard let first = sinks.first, first.columns.contains(where: \.isMapped) else { return nil }
        columns = first.columns.filter(\.isMapped)
        let names = Set(sinks.map(\.url.table)).sorted().map { "'\($0)'" }
        tables = (names.count == 1 ? "the table " : "the tables ") + names.joined(separator: ", ")
    }

    /// `result`, failed when its output does not fit the columns.
    func checked(_ result: DocumentResult) -> DocumentResult {
        guard result.status == .ok || result.status == .partial, result.outputIsJSON else { return result }
        let row = SinkRow(result: result, finishedAt: 0, batch: "", parseOutput: true)
        do {
            for column in columns { _ = try column.value(row) }
            return result
        } catch {
            var failed = result
            failed.status = .failed
            failed.output = nil
            failed.outputIsJSON = false
            failed.error = "sink.columns (\(tables)): \((error as? SinkFailure)?.message ?? "\(error)")"
            return failed
        }
    }
}
