import ArgumentParser
import BatchCore
import Glibc

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Process documents: files, directories, manifests or paths on stdin.",
        discussion: """
        INPUT is a file, a directory (read recursively, sorted), or - for \
        newline-separated paths on standard input (--list FILE reads them \
        from a file). Every document needs its own id: an id given twice is \
        refused before the run (on standard input, the repeat fails). Everything after -- is a \
        command run per document (the exec processor): {} or {path} is the \
        document's path, {id} its id; it is passed as argv, never through a shell.

        Examples:
          batchhost run samples/ -p text -o results.jsonl
          batchhost run samples/ --glob '*.txt' -w 4 -- wc -w {}
          find . -name '*.pdf' | batchhost run - -- pdftotext {} -

        Exit codes: 0 every document ok (or partial), 1 some documents failed, \
        2 usage or configuration error, 3 stopped early (interrupted).
        """)

    @Argument(help: "Files, directories, or - for paths on standard input.")
    var inputs: [String] = []

    @Option(name: [.short, .customLong("processor")], help: "A processor per stage, in order: a plugin name, a path to a plugin, or exec (repeatable).")
    var processors: [String] = []

    @Option(name: .customLong("set"), help: ArgumentHelp("A stage option: KEY=VALUE for the last stage, STAGE.KEY=VALUE for a named one (repeatable).", valueName: "key=value"))
    var stageOptions: [String] = []

    @Option(name: [.customShort("O"), .customLong("option")], help: ArgumentHelp("Any batch option, KEY=VALUE (see `batchhost options`; repeatable).", valueName: "key=value"))
    var batchOptions: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp(optionHelp("workers"), valueName: "n"))
    var workers: String?

    @Flag(name: [.short, .long], help: ArgumentHelp(optionHelp("sequential")))
    var sequential = false

    @Option(name: [.short, .long], help: ArgumentHelp("Write results as JSON Lines to this file (default: standard output).", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp(optionHelp("sink"), valueName: "url"))
    var sink: [String] = []

    @Option(help: ArgumentHelp("Only files matching this pattern in directories (e.g. '*.txt', 'a/*/b.md').", valueName: "pattern"))
    var glob: String?

    @Option(help: ArgumentHelp("A manifest: .jsonl or .json array of {\"id\",\"path\",\"metadata\"} (repeatable).", valueName: "file"))
    var manifest: [String] = []

    @Option(name: .customLong("list"), help: ArgumentHelp("A file of newline-separated paths, as on standard input (repeatable).", valueName: "file"))
    var lists: [String] = []

    @Option(name: .customLong("plugin-dir"), help: ArgumentHelp("Also look for plugins here (repeatable).", valueName: "dir"))
    var pluginDirs: [String] = []

    @Option(name: .customLong("max-workers"), help: ArgumentHelp("Global cap on worker threads (engine option max_workers).", valueName: "n"))
    var maxWorkers: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Journal file: every finished document is recorded, so the run can be resumed (default with -o FILE: FILE.journal).", valueName: "file"))
    var checkpoint: String?

    @Flag(name: .customLong("no-checkpoint"), help: "Do not keep a journal.")
    var noCheckpoint = false

    @Flag(name: [.short, .long], help: "Continue the run in the journal: finished documents are skipped, the rest run.")
    var resume = false

    @Flag(name: .customLong("retry-failed"), help: "When resuming, also run the failed documents again.")
    var retryFailed = false

    @Flag(name: .customLong("force-resume"), help: "Resume even if stages, options or inputs differ from the journal's.")
    var forceResume = false

    @Flag(help: ArgumentHelp(optionHelp("overwrite")))
    var overwrite = false

    @OptionGroup var limits: LimitFlags

    @Option(help: ArgumentHelp(optionHelp("sample"), valueName: "n"))
    var sample: String?

    @Option(help: ArgumentHelp("Progress on standard error: auto (a live line on a terminal, else plain), live, plain (a line every 5 s), json (an object per tick), off.", valueName: "mode"))
    var progress: String = ProgressMode.auto.rawValue

    @Option(help: ArgumentHelp(optionHelp("isolation"), valueName: "thread|process|auto"))
    var isolation: String?

    @Option(help: ArgumentHelp("Serve a status page, /metrics and a JSON API while the run goes, on 127.0.0.1 unless a host is given (port 0 picks a free port).", valueName: "[host:]port"))
    var http: String?

    @Option(name: .customLong("http-token"), help: ArgumentHelp("Allow operator actions (retry failed documents, pause, resume, cancel) from the page or the API to whoever sends this token; off loopback, every request needs it.", valueName: "token"))
    var httpToken: String?

    @Option(name: .customLong("log-file"), help: ArgumentHelp("Append a timestamped line per event to this file: start and end, failures, retries, rate-limit pauses, warnings, stage stderr (secrets masked).", valueName: "file"))
    var logFile: String?

    @Option(name: .customLong("log-format"), help: ArgumentHelp("The --log-file lines: text or json.", valueName: "format"))
    var logFormat: String = LogFormat.text.rawValue

    @Flag(name: [.short, .long], help: "Print nothing but errors.")
    var quiet = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("A command run per document, after --.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        guard ProgressMode(rawValue: progress) != nil else {
            throw ValidationError("--progress '\(progress)': expected one of " + ProgressMode.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard LogFormat(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format '\(logFormat)': expected text or json")
        }
        if noCheckpoint && (checkpoint != nil || resume) {
            throw ValidationError("--no-checkpoint cannot be combined with --checkpoint or --resume")
        }
    }

    func run() throws {
        Diagnostics.setProgramName("batchhost")
        // Results alone on stdout: what a plugin prints goes to stderr.
        try StandardOutput.reserveForResults()
        let console = Console(quiet: quiet, progress: ProgressMode(rawValue: progress)!)
        let current = Locked<Batch?>(nil)
        SignalWatcher.start { count in
            guard let batch = current.withLock({ $0 }) else { leave(Exit.stopped.rawValue) }
            if count == 1 {
                console.note("interrupted: finishing the documents in flight (Ctrl-C again to stop at once)")
                batch.cancel()
            } else {
                console.note("interrupted again: stopping now; documents in flight will run again on --resume")
                batch.cancel(hard: true)
                // Calls that ignore cancellation are not waited for long.
                startThread(name: "bc-deadline") {
                    sleepSeconds(3)
                    if batch.isRunning {
                        batch.abandon()
                        console.abandoned(journal: batch.batchOptions.checkpoint)
                        Glibc._exit(Exit.stopped.rawValue)
                    }
                }
            }
        }
        let engine = Engine()
        for dir in pluginDirs { try engine.set("plugin_dir", dir) }
        if let maxWorkers { try engine.set("max_workers", maxWorkers) }

        let batch = Batch(engine: engine)
        try configureStages(batch)
        for option in batchOptions {
            let (key, value) = try splitAssignment(option, flag: "--option")
            try batch.set(key, value)
        }
        if let workers { try batch.set("workers", workers) }
        if sequential { try batch.set("sequential", "true") }
        try batch.set("output", output ?? "-")
        try batch.set("keep_results", "false")
        if let journal = journalPath { try batch.set("checkpoint", journal) }
        if resume { try batch.set("resume", "true") }
        if retryFailed { try batch.set("retry_failed", "true") }
        if forceResume { try batch.set("force_resume", "true") }
        if overwrite { try batch.set("overwrite", "true") }
        for (key, value) in limits.options { try batch.set(key, value) }
        if let sample { try batch.set("sample", sample) }
        if let isolation { try batch.set("isolation", isolation) }
        for url in sink { try batch.set("sink", url) }
        try addInputs(batch, console: console)

        let watchers = try RunWatchers(http: http, token: httpToken, logFile: logFile, logFormat: LogFormat(rawValue: logFormat)!,
                                       batch: batch, name: batchName, journal: journalPath)
        defer { watchers.stop() }
        try batch.onEvent(documents: .failed) { event in
            console.handle(event)
            watchers.handle(event)
        }
        if console.progress.mode == .live { try batch.set("progress.interval", "250ms") }
        current.withLock { $0 = batch }
        if output == nil || output == "-" { console.relayResults() }
        do {
            try batch.start()
            _ = try batch.wait()
        } catch {
            console.endLive()
            throw error
        }
        engine.shutdown()

        let stats = batch.stats
        console.finish(stats, error: batch.error, budget: batch.batchOptions.budget, journal: journalPath)
        throw ExitCode(exitCode(stats, error: batch.error).rawValue)
    }

    /// The journal: --checkpoint, else OUTPUT.journal when the output is a
    /// regular file (not stdout, /dev/null or a pipe).
    private var journalPath: String? {
        if noCheckpoint { return nil }
        if let checkpoint { return checkpoint }
        guard let output, output != "-" else { return nil }
        var info = stat()
        if stat(output, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG { return nil }
        return output + ".journal"
    }

    /// How the status page and metrics name the batch: its journal's
    /// file name without `.journal` (so, usually, its output's), else "batch".
    private var batchName: String {
        guard let journal = journalPath, let file = journal.split(separator: "/").last else { return "batch" }
        return file.hasSuffix(".journal") ? String(file.dropLast(".journal".count)) : String(file)
    }

    private func exitCode(_ stats: BatchStats, error: BatchCoreError?) -> Exit {
        // The journal or the output could not be written: stopped, resumable.
        if error?.code == .io { return .stopped }
        if stats.state == .cancelled { return error == nil ? .stopped : (error!.code == .input ? .documentsFailed : .stopped) }
        return stats.failed > 0 || error != nil ? .documentsFailed : .ok
    }

    private func configureStages(_ batch: Batch) throws {
        var stages = processors
        if !command.isEmpty && stages.last != ExecProcessor.name { stages.append(ExecProcessor.name) }
        guard !stages.isEmpty else {
            throw ValidationError("no processor: name one with -p NAME (see `batchhost plugins`), or give a command after --")
        }
        for stage in stages { try batch.addStage(processor: stage) }
        if !command.isEmpty { try batch.setStage(nil, "command", ExecProcessor.argvJSON(command)) }
        let labels = Set(batch.stageLabels)
        for assignment in stageOptions {
            let (key, value) = try splitAssignment(assignment, flag: "--set")
            if let dot = key.firstIndex(of: "."), labels.contains(String(key[..<dot])) {
                try batch.setStage(String(key[..<dot]), String(key[key.index(after: dot)...]), value)
            } else {
                try batch.setStage(nil, key, value)
            }
        }
    }

    private func addInputs(_ batch: Batch, console: Console) throws {
        for input in inputs {
            if input == "-" {
                try batch.add(ListSource(path: "-"))
                continue
            }
            if RemoteInput.isRemote(input) {
                try batch.add(RemoteInput.source(input))
                continue
            }
            var info = stat()
            guard FileNameBytes.withCString(input, { stat($0, &info) }) == 0 else {
                throw BatchCoreError(.notFound, "input '\(input)' does not exist")
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                let directory = try DirectorySource(root: input, glob: glob)
                if directory.knownCount == 0 && !quiet {
                    let what = glob.map { "matched --glob '\($0)' in" } ?? "are in"
                    console.note("warning: no documents \(what) directory '\(input)'")
                }
                try batch.add(directory)
            } else {
                try batch.add(FileSource(path: input, id: nil, metadata: nil))
            }
        }
        for file in manifest { try batch.add(ManifestSource(path: file)) }
        for file in lists { try batch.add(ListSource(path: file)) }
        guard !inputs.isEmpty || !manifest.isEmpty || !lists.isEmpty else {
            throw ValidationError("no input: give files, directories, --manifest FILE, --list FILE, or - to read paths from standard input")
        }
    }
}

func splitAssignment(_ text: String, flag: String) throws -> (String, String) {
    guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
        throw ValidationError("\(flag) '\(text)': expected KEY=VALUE")
    }
    return (String(text[..<eq]), String(text[text.index(after: eq)...]))
}

/// The registry's help line for an option, so flags and the registry agree.
func optionHelp(_ key: String) -> String {
    let spec = BatchOptions.table.spec(key)!
    return spec.defaultValue.isEmpty ? spec.help : "\(spec.help) (default: \(spec.defaultValue))"
}
