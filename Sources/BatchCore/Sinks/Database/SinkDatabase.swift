/// A database a sink writes rows to. Used by one thread at a time.
protocol SinkDatabase: AnyObject {
    /// Creates the table when missing; refuses an existing one that lacks
    /// a column or whose `id` is not its primary key, naming them.
    func prepareTable(_ table: String, columns: [SinkColumn]) throws
    /// Inserts or replaces (by `id`) these rows in one transaction.
    func upsert(_ rows: [[SinkValue]], table: String, columns: [SinkColumn]) throws
}

/// Why a write failed: worth another try later (the database is down,
/// busy or unreachable), or not until someone fixes something.
enum SinkFailure: Error, Equatable {
    case transient(String)
    case permanent(String)

    var message: String {
        switch self {
        case .transient(let m), .permanent(let m): m
        }
    }
}

enum SinkDatabases {
    /// Connects to the database `url` names.
    static func open(_ url: SinkURL) throws -> any SinkDatabase {
        switch url.kind {
        case .sqlite: try SQLiteSinkDatabase(url)
        case .postgresql: try PostgresSinkDatabase(url)
        }
    }
}
