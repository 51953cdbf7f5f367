import FoundationEssentials

/// What defines a run, recorded in the journal: resuming with anything else
/// would mix results of different runs. Execution knobs (workers, retries,
/// output file) may change between resumes and are not part of it.
public struct RunConfiguration: Codable, Equatable, Sendable {
    public struct Stage: Codable, Equatable, Sendable {
        public var label: String
        public var processor: String
        public var options: [String: String]
    }

    public var stages: [Stage]
    public var inputs: [String]
    public var dedupe: Bool

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    static func parse(_ text: String) -> RunConfiguration? {
        try? JSONDecoder().decode(RunConfiguration.self, from: Data(text.utf8))
    }

    /// Human-readable differences from `recorded` (the journal's) to `self`.
    func differences(from recorded: RunConfiguration) -> [String] {
        var out: [String] = []
        let was = recorded.stages.map { "\($0.label)=\($0.processor)" }
        let now = stages.map { "\($0.label)=\($0.processor)" }
        if was != now {
            out.append("stages: the journal has \(was.joined(separator: " → ")), now \(now.joined(separator: " → "))")
        } else {
            for (old, new) in zip(recorded.stages, stages) where old.options != new.options {
                for key in Set(old.options.keys).union(new.options.keys).sorted() where old.options[key] != new.options[key] {
                    out.append("stage '\(new.label)' option '\(key)': the journal has \(quoted(old.options[key])), now \(quoted(new.options[key]))")
                }
            }
        }
        if recorded.inputs != inputs {
            out.append("inputs: the journal has \(recorded.inputs.joined(separator: ", ")), now \(inputs.joined(separator: ", "))")
        }
        if recorded.dedupe != dedupe {
            out.append("dedupe: the journal has \(recorded.dedupe), now \(dedupe)")
        }
        return out
    }

    private func quoted(_ value: String?) -> String { value.map { "'\($0)'" } ?? "(unset)" }
}
