/// The database sinks of a run, opened and checked before it starts.
enum DatabaseSinks {
    static func open(_ options: BatchOptions, journal: Journal?) throws -> [DatabaseSink] {
        guard !options.sinks.isEmpty else { return [] }
        guard let journal else {
            throw BatchCoreError(.option, "a sink needs the journal, which records what reached the database: set 'checkpoint' (--checkpoint FILE, or -o FILE)")
        }
        let columns = try options.sinkColumns.map(SinkColumns.mapped) ?? SinkColumns.standard()
        return try options.sinks.map { try DatabaseSink(url: $0, columns: columns, journal: journal.path, options: options) }
    }
}

extension BatchRun: DatabaseSinkDelegate {
    func sinkWaiting(_ sink: DatabaseSink, reason: String?) {
        stats.update { $0.stats.sinksWaiting += reason == nil ? -1 : 1 }
        let message = reason.map { "sink: waiting for database (\($0)); retrying" } ?? "sink: \(sink.url.display) takes results again"
        log(.warning, message, nil)
    }
}
