/// Checks made before a run trusts a journal: resuming a damaged journal,
/// or one that lost its history, would run finished documents again.
enum JournalCheck {
    /// Refuses a journal SQLite finds damaged (`PRAGMA quick_check`: every
    /// page and record is well formed).
    static func verify(_ db: SQLiteDatabase, path: String, output: String?) throws {
        var problems: [String] = []
        do {
            let check = try db.prepare("PRAGMA quick_check(3)")
            while try check.step() { problems.append(check.text(0) ?? "") }
        } catch let error as BatchCoreError {
            problems = [error.message]
        }
        guard problems != ["ok"] else { return }
        throw BatchCoreError(.input, "the journal '\(path)' is damaged (\(problems.joined(separator: "; "))); it cannot be trusted to say what is finished. "
            + recoverHint(journal: path, output: output ?? recordedOutput(db)))
    }

    /// Refuses to resume a journal that holds no run: an empty file, or one
    /// copied without its -wal file, would otherwise start everything anew.
    static func requireRun(_ db: SQLiteDatabase, path: String, output: String?) throws {
        guard (try? Journal.meta(db, "format_version")) == nil else { return }
        throw BatchCoreError(.state, "the journal '\(path)' holds no run (it is empty: was it truncated, or copied without its '\(path)-wal' file?), so there is nothing to resume. "
            + recoverHint(journal: path, output: output) + "; if nothing ran yet, start without --resume")
    }

    /// What to do when the journal cannot be trusted.
    static func recoverHint(journal: String, output: String?) -> String {
        let output = output == "-" ? nil : output
        return "If the output file holds the results, rebuild the journal from it with "
            + "`batchhost recover -o \(output ?? "OUTPUT") -c \(journal)` (the old journal is kept aside), then resume"
    }

    private static func recordedOutput(_ db: SQLiteDatabase) -> String? {
        (try? Journal.meta(db, "output_path")).flatMap { $0?.isEmpty == false ? $0 : nil }
    }
}
