import CBatchCore
import Glibc

/// The built-in `exec` processor: runs one external command per document.
///
/// Stage options:
/// - `command` (required): the argv template — a JSON array of strings or
///   POSIX-style words, with placeholders `{}`/`{path}`, `{id}`, `{stage}`,
///   `{attempt}` (see `ArgvTemplate`). No shell is involved: a file named
///   `$(touch pwned)` reaches the program as exactly that argument.
/// - `json` (default false): the command prints JSON; output that does not
///   parse makes the document `.partial` with the raw text kept.
/// - `cwd`: the command's working directory. Relative document paths are
///   then made absolute (against this process's directory at stage start),
///   so `{path}` names the same file the engine reads.
/// - `max_output` (default 64MiB): most stdout bytes kept; a command that
///   writes more is stopped and the document fails.
/// - `prepare`: a command (same syntax, no per-document placeholders) run
///   once when the stage starts, before any document. Its stdout is the
///   stage's shared data: each call finds it in a file named by the
///   `{shared}` placeholder and by `$BATCHCORE_SHARED`. A prepare that
///   fails (non-zero exit, a signal) stops the batch from starting.
///
/// A template without any placeholder gets the document's path appended as
/// its last argument in the first stage, as xargs and GNU parallel do
/// (`wc -l` runs `wc -l PATH`); a document without a file, and later
/// stages, which read the previous output on stdin, get nothing appended.
/// A relative path that starts with "-" is passed as "./-…", so it never
/// reads as an option.
///
/// A document held in memory (no file) reaches the command on stdin in the
/// first stage, and, when the template names `{}`/`{path}`, as a private
/// temporary file removed after the call.
///
/// Per document: stdin is the previous stage's output (stages after the
/// first), the document's content, or `/dev/null`. Exit 0 is `.done` with stdout as the output;
/// exit 75 (`EX_TEMPFAIL`) is `.retry` with stderr as the error; any other
/// exit, a signal, or a command that cannot be started is `.fail` with a
/// message that says which. Cancellation, and an attempt that overruns the
/// batch's `timeout`, send SIGTERM to the command's process group, SIGKILL
/// `timeout.grace` later, and make the document `.retry`.
public final class ExecProcessor: Processor {
    /// The name the built-in is known by.
    public static let name = "exec"

    public let info = ProcessorInfo(
        name: ExecProcessor.name,
        version: "1.0.0",
        description: "Runs a command per document (argv template; {} {path} {id})",
        kind: .builtin,
        options: [
            StageOption(name: "command", defaultValue: nil,
                        help: "the command: a JSON array [\"wc\",\"-l\",\"{}\"] or words 'wc -l {}' (no shell); "
                            + "placeholders {} {path} {id} {stage} {attempt} {shared}, {{ }} for literal braces"),
            StageOption(name: "json", defaultValue: "false",
                        help: "the command prints JSON (output that does not parse makes the document partial)"),
            StageOption(name: "cwd", defaultValue: nil,
                        help: "working directory of the command"),
            StageOption(name: "max_output", defaultValue: "64MiB",
                        help: "most stdout bytes kept per document (e.g. 512KiB, 64MiB); more fails the document"),
            StageOption(name: "prepare", defaultValue: nil,
                        help: "a command run once when the stage starts; its stdout reaches every call as the file {shared} and $BATCHCORE_SHARED"),
        ])

    /// Exit status a command uses to ask for a retry (sysexits.h EX_TEMPFAIL).
    public static let tempFailStatus: Int32 = 75

    public init() {}

    public func start(config: StageConfig) throws -> ProcessorInstance {
        let stage = "stage '\(config.label)'"
        func optionError(_ error: any Error) -> BatchCoreError {
            let message = (error as? BatchCoreError)?.message ?? "\(error)"
            return BatchCoreError(.option, "\(stage): \(message)")
        }

        guard let command = config["command"] else {
            throw BatchCoreError(.option, "\(stage): option 'command' is required for exec: the command to run per "
                + "document, e.g. [\"wc\",\"-l\",\"{}\"] or 'wc -l {}'")
        }
        guard !command.trimmingSpaces.isEmpty else {
            throw BatchCoreError(.option, "\(stage): option 'command' is empty; give the command to run per "
                + "document, e.g. [\"wc\",\"-l\",\"{}\"] or 'wc -l {}'")
        }
        let template: ArgvTemplate
        do {
            template = try ArgvTemplate(command: command)
        } catch {
            throw BatchCoreError(.option, "\(stage): invalid option 'command' (\(command)): \(error.message)")
        }

        var json = false
        if let value = config["json"] {
            do { json = try ValueParser.bool("json", value) } catch { throw optionError(error) }
        }

        var maxOutput = 64 << 20
        if let value = config["max_output"] {
            do { maxOutput = try ValueParser.byteSize("max_output", value, in: 0...(1 << 40)) }
            catch { throw optionError(error) }
        }

        var cwd: String? = nil
        var baseDir: String? = nil
        if let value = config["cwd"] {
            guard !value.isEmpty else {
                throw BatchCoreError(.option, "\(stage): option 'cwd' is empty; give a directory or leave it out")
            }
            let here = currentDirectory()
            let absolute = isAbsolutePath(value) ? value : (here.map { $0 + "/" + value } ?? value)
            var st = stat()
            guard stat(absolute, &st) == 0 else {
                throw BatchCoreError(.option, "\(stage): option 'cwd': cannot use directory '\(value)': \(errnoText())")
            }
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw BatchCoreError(.option, "\(stage): option 'cwd': '\(value)' is not a directory")
            }
            cwd = absolute
            baseDir = here
        }

        let shared = try prepare(config, stage: stage, cwd: cwd)
        return ExecInstance(template: template, json: json, cwd: cwd, baseDir: baseDir, maxOutput: maxOutput,
                            shared: shared)
    }

    /// Runs the stage's `prepare` command once, and keeps its stdout in a
    /// file for every call; nil without one.
    private func prepare(_ config: StageConfig, stage: String, cwd: String?) throws -> ContentFile? {
        guard let command = config["prepare"] else { return nil }
        if config.shared.prepared, let kept = config.shared.bytes { return try ContentFile(kept) }
        let argv: [String]
        do {
            argv = try ArgvTemplate(command: command).render(path: "", id: "", stage: 0, attempt: 1)
        } catch {
            throw BatchCoreError(.option, "\(stage): invalid option 'prepare' (\(command)): \(error.message)")
        }
        guard !argv.isEmpty, !argv[0].isEmpty else {
            throw BatchCoreError(.option, "\(stage): option 'prepare' is empty; give the command to run once, or leave it out")
        }
        let result: ChildProcess.Result
        do {
            result = try ChildProcess.run(ChildProcess.Request(argv: argv, cwd: cwd), isCancelled: { false })
        } catch {
            throw BatchCoreError(.plugin, "\(stage): cannot run prepare '\(argv[0])': \(error.message)")
        }
        let ending: String
        switch result.exit {
        case .exited(0): ending = ""
        case .exited(let status): ending = "exit status \(status)"
        case .signaled(let signal, _): ending = "killed by \(ChildExit.signalName(signal))"
        case .unknown: ending = "an unknown exit status"
        }
        guard ending.isEmpty else {
            let stderrText = ExecInstance.tail(result.stderr, truncated: result.stderrCount > result.stderr.count)
            throw BatchCoreError(.plugin, "\(stage): prepare '\(argv[0])' failed (\(ending))"
                + (stderrText.isEmpty ? "" : ": \(stderrText)") + "; the batch does not start")
        }
        config.shared.set(result.stdout)
        return try ContentFile(result.stdout)
    }

    /// The JSON array form of an argv, as the `command` option takes it:
    /// `["wc","-l","{}"]`. Hosts that already hold an argv (the CLI after
    /// `--`) pass it this way so no word splitting happens at all.
    public static func argvJSON(_ argv: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (k, arg) in argv.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            appendJSONString(arg, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    private func currentDirectory() -> String? {
        guard let p = getcwd(nil, 0) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

/// One `exec` stage: immutable, so `process` runs on any number of threads.
final class ExecInstance: ProcessorInstance {
    let template: ArgvTemplate
    let json: Bool
    let cwd: String?
    /// Directory relative document paths are resolved against when `cwd` is set.
    let baseDir: String?
    let maxOutput: Int

    /// How much of stderr goes into an error message.
    static let errorTail = 4096

    /// The `prepare` output, in a file for `{shared}` and `$BATCHCORE_SHARED`.
    let shared: ContentFile?

    init(template: ArgvTemplate, json: Bool, cwd: String?, baseDir: String?, maxOutput: Int, shared: ContentFile?) {
        self.template = template
        self.json = json
        self.cwd = cwd
        self.baseDir = baseDir
        self.maxOutput = maxOutput
        self.shared = shared
    }

    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome {
        if call.isCancelled {
            call.error = "cancelled"
            return .retry
        }
        var contentFile: ContentFile? = nil
        if let content = doc.document.content, template.usesPath {
            do {
                contentFile = try ContentFile(content)
            } catch {
                call.error = error.message
                return .retry
            }
        }
        defer { contentFile?.remove() }
        let argv = argv(for: doc, path: contentFile?.path ?? argumentPath(doc.document))
        if let bad = argv.firstIndex(where: { $0.utf8.contains(0) }) {
            call.error = "cannot run '\(argv[0])': argv[\(bad)] would contain a NUL character (from the document's id or path)"
            return .fail
        }
        let stdin = doc.stage == 0 ? doc.document.content : doc.input
        var request = ChildProcess.Request(argv: argv, cwd: cwd, stdin: stdin, maxStdout: maxOutput,
                                           deadline: call.deadline, killGraceNanos: call.killGraceNanos)
        if let shared { request.environment = ["BATCHCORE_SHARED=" + shared.path] }
        let result: ChildProcess.Result
        do {
            result = try ChildProcess.run(request, isCancelled: { call.isCancelled })
        } catch {
            call.error = error.message
            return .fail
        }
        if let stopped = result.stopped { return outcome(stoppedBy: stopped, call) }
        return outcome(of: result, call)
    }

    /// The command for `doc`: the template filled in, plus the path of a
    /// first-stage document when the template names no placeholder.
    private func argv(for doc: DocumentInput, path: String) -> [String] {
        var argv = template.render(path: path, id: doc.document.id, stage: doc.stage, attempt: doc.attempt,
                                   shared: shared?.path ?? "")
        if !template.hasPlaceholders && doc.stage == 0 && doc.document.path != nil { argv.append(path) }
        return argv
    }

    private func outcome(stoppedBy reason: ChildProcess.StopReason, _ call: CallContext) -> Outcome {
        switch reason {
        case .cancelled:
            call.error = "cancelled"
            return .retry
        case .deadline:
            call.markOverran()
            return .retry
        case .outputLimit:
            call.error = "output exceeds max_output (\(maxOutput) bytes): the command was stopped; "
                + "raise the stage option max_output if such output is expected"
            return .fail
        }
    }

    /// The outcome of a command that ended by itself: its output on exit
    /// status 0, a retry on 75 (EX_TEMPFAIL), else a failure naming the
    /// status or signal and the tail of stderr.
    private func outcome(of result: ChildProcess.Result, _ call: CallContext) -> Outcome {
        let stderrText = ExecInstance.tail(result.stderr, truncated: result.stderrCount > result.stderr.count)
        if !stderrText.isEmpty { call.stderrTail = stderrText }
        func withStderr(_ message: String) -> String {
            stderrText.isEmpty ? message : message + ": " + stderrText
        }
        switch result.exit {
        case .exited(0):
            if !stderrText.isEmpty {
                call.log(.debug, "stderr: " + stderrText)
            }
            guard json else {
                call.setOutput(result.stdout)
                return .done
            }
            guard call.setOutputJSON(result.stdout) else {
                call.setOutput(result.stdout)
                call.error = "output is not valid JSON"
                return .partial
            }
            return .done
        case .exited(ExecProcessor.tempFailStatus):
            call.error = stderrText.isEmpty ? "exit status 75 (temporary failure)" : stderrText
            return .retry
        case .exited(let status):
            call.error = withStderr("exit status \(status)")
            return .fail
        case .signaled(let signal, let coreDumped):
            call.error = withStderr("killed by \(ChildExit.signalName(signal))" + (coreDumped ? " (core dumped)" : ""))
            return .fail
        case .unknown:
            call.error = "exit status unknown: the command was reaped elsewhere (is SIGCHLD ignored?)"
            return .fail
        }
    }

    /// The document's path as the command gets it: absolute when the
    /// command runs in another directory, and "./-x" for a relative "-x",
    /// so that a file name is never taken for an option.
    func argumentPath(_ document: Document) -> String {
        guard let path = document.path else { return document.id }
        if isAbsolutePath(path) { return path }
        if let baseDir { return baseDir + "/" + path }
        return path.hasBytePrefix("-") ? "./" + path : path
    }

    func stop() { shared?.remove() }

    /// The child's process group is stopped at the deadline (SIGTERM, then
    /// SIGKILL), and the call marked as overrun.
    var enforcesDeadline: Bool { true }

    /// The last `errorTail` bytes of `bytes` as text, whitespace-trimmed,
    /// starting at a character boundary; "…" marks a cut.
    static func tail(_ bytes: [UInt8], truncated: Bool) -> String {
        var start = max(0, bytes.count - errorTail)
        var cut = truncated || start > 0
        while start < bytes.count, bytes[start] & 0xC0 == 0x80 { start += 1; cut = true }
        let text = String(decoding: bytes[start...], as: UTF8.self).trimmingSpaces
        return cut && !text.isEmpty ? "…" + text : text
    }
}

extension ValueParser {
    /// Bytes from "1048576", "512KiB", "64MiB", "1GiB" (powers of 1024; also
    /// "K", "M", "G"), or "10kB", "5MB", "1GB" (powers of 1000).
    public static func byteSize(_ key: String, _ value: String, in range: ClosedRange<Int>) throws -> Int {
        let text = value.trimmingSpaces
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
            ("kB", 1_000), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000),
            ("K", 1 << 10), ("k", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        var number = Substring(text)
        var scale = 1
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        let digits = String(number).trimmingSpaces
        guard let n = Int(digits), n >= 0, n <= Int.max / scale, range.contains(n * scale) else {
            throw invalid(key, value, "a size such as 65536, 512KiB, 64MiB or 1GiB, from \(range.lowerBound) to \(range.upperBound) bytes")
        }
        return n * scale
    }
}
