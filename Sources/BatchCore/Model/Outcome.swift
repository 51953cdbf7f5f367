/// What a processor returns for one document and stage.
public enum Outcome: Int32, Sendable {
    case done = 0
    case partial = 1
    case retry = 2
    case fail = 3
    /// The call goes on after `process` returned: it completes later, from
    /// any thread, with `CallContext.finish`. Its worker slot stays taken.
    case pending = 4
}
