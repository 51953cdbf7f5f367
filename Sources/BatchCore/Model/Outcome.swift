/// What a processor returns for one document and stage.
public enum Outcome: Int32, Sendable {
    case done = 0
    case partial = 1
    case retry = 2
    case fail = 3
}
