import Glibc

/// What a stage's prepare made (a plugin's prepare(), exec's `prepare`
/// command, a Python worker's `prepare` function), kept in the journal's
/// `prepared` table under the stage's label and configuration, so a
/// resumed batch hands it to the stage instead of preparing again. The
/// stage option `prepare_again=true` prepares anew (and keeps the new one).
struct PreparedResult: Sendable, Equatable {
    let stage: String
    /// The stage's processor and options, as JSON: another configuration prepares anew.
    let configuration: String
    let shared: [UInt8]
    /// What prepare spent (`add_prepare_usage`), and its cost at the stage's prices.
    var usage = TokenUsage()
    var costUSD = 0.0
}

enum PreparedResults {
    /// The stage option that asks for a fresh prepare on resume. The engine
    /// takes it out before the processor sees its options, and the journal
    /// does not compare it.
    static let againOption = "prepare_again"

    static let schema = """
        CREATE TABLE IF NOT EXISTS prepared (
            stage TEXT NOT NULL, configuration TEXT NOT NULL, shared BLOB NOT NULL, prepared_at REAL NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (stage, configuration));
        """

    /// The stages without their `prepare_again` option, and the labels of those that set it true.
    static func split(_ stages: [StageSpec]) throws -> ([StageSpec], Set<String>) {
        var again = Set<String>()
        let kept = try stages.map { spec in
            var spec = spec
            if let value = spec.options.removeValue(forKey: againOption) {
                do {
                    if try ValueParser.bool(againOption, value) { again.insert(spec.label) }
                } catch let error as BatchCoreError {
                    throw BatchCoreError(.option, "stage '\(spec.label)': " + error.message)
                }
            }
            return spec
        }
        return (kept, again)
    }

    /// The key a stage's result is kept under.
    static func configuration(of spec: StageSpec) -> String {
        var out = Array("{\"processor\":".utf8)
        appendJSONString(spec.processor, to: &out)
        out += Array(",\"options\":{".utf8)
        for (k, key) in spec.options.keys.sorted().enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            appendJSONString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendJSONString(spec.options[key]!, to: &out)
        }
        out += Array("}}".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// What the journal at `path` kept for this stage; nil when it kept
    /// nothing (no journal yet, or one written before prepares were kept).
    static func stored(in path: String, for spec: StageSpec) -> [UInt8]? {
        guard access(path, F_OK) == 0, let db = try? SQLiteDatabase(path: path, readOnly: true) else { return nil }
        defer { db.close() }
        guard let lookup = try? db.prepare("SELECT shared FROM prepared WHERE stage = ? AND configuration = ?")
            .bind(.text(spec.label), .text(configuration(of: spec))),
              (try? lookup.step()) == true else { return nil }
        return lookup.blob(0) ?? []
    }
}

extension Journal {
    /// Keeps what the stages prepared in this run (replacing older results of the same stage and configuration).
    func keep(_ results: [PreparedResult]) throws {
        guard !results.isEmpty else { return }
        try writerDB.transaction {
            for result in results {
                try writerDB.prepare("""
                    INSERT OR REPLACE INTO prepared (stage, configuration, shared, prepared_at, input_tokens, output_tokens, cost_usd)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
                    .bind(.text(result.stage), .text(result.configuration), .blob(result.shared), .double(Double(time(nil))),
                          .int(Int64(clamping: result.usage.input)), .int(Int64(clamping: result.usage.output)),
                          .double(result.costUSD)).run()
            }
        }
    }
}
