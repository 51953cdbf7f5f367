extension JournalReader {
    /// Upserts every result of this journal into the database `url` names,
    /// `options.sinkBatchSize` rows per transaction, with the columns a run's
    /// sink would write (`sink.columns` included). Returns the rows written.
    public func export(toSink url: SinkURL, options: BatchOptions) throws -> Int {
        let columns = try options.sinkColumns.map(SinkColumns.mapped) ?? SinkColumns.standard()
        do {
            let database = try SinkDatabases.open(url)
            try database.prepareTable(url.table, columns: columns)
            let feed = try JournalFeed(journal: path, sink: url, parseOutput: columns.contains { $0.isMapped },
                                       recording: false)
            var written = 0
            while true {
                let (rows, last) = try feed.next(options.sinkBatchSize)
                if rows.isEmpty { return written }
                try database.upsert(try SinkColumns.values(of: rows, columns, for: url), table: url.table, columns: columns)
                feed.advance(to: last)
                written += rows.count
            }
        } catch let failure as SinkFailure {
            throw BatchCoreError(.io, failure.message)
        }
    }
}
