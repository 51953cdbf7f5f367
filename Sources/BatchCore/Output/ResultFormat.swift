/// How finished documents are written as bytes: one record per document,
/// between a header and a footer. The live output, the output rebuilt from
/// a journal, and `export` all write through one of these, so a format is
/// spelled in one place.
public protocol ResultFormat: Sendable {
    /// Bytes before the first record (a CSV header); empty for none.
    var header: [UInt8] { get }
    /// Bytes between two records; empty for none.
    var separator: [UInt8] { get }
    /// One result as one record, its terminator included.
    func record(for result: DocumentResult) -> [UInt8]
    /// Bytes after the last record; `empty` when there was none.
    func footer(empty: Bool) -> [UInt8]
}

extension ResultFormat {
    public var header: [UInt8] { [] }
    public var separator: [UInt8] { [] }
    public func footer(empty: Bool) -> [UInt8] { [] }
}
