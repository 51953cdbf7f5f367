import BatchCore
import Glibc
import XCTest

final class ExecProcessorTests: XCTestCase {
    // MARK: Helpers

    private func start(_ values: [String: String], label: String = "s1") throws -> ProcessorInstance {
        try ExecProcessor().start(config: StageConfig(label: label, values: values))
    }

    private func startError(_ values: [String: String], label: String = "s1") -> BatchCoreError? {
        do {
            _ = try start(values, label: label)
            return nil
        } catch let error as BatchCoreError {
            return error
        } catch {
            XCTFail("unexpected error type: \(error)")
            return nil
        }
    }

    private func run(_ instance: ProcessorInstance, id: String = "doc1", path: String? = nil,
                     stage: Int = 0, attempt: Int = 1, input: [UInt8]? = nil,
                     cancel: CancelFlag = CancelFlag()) -> (Outcome, CallContext) {
        let call = CallContext(cancelFlag: cancel)
        let doc = DocumentInput(document: Document(id: id, path: path), stage: stage, attempt: attempt, input: input)
        return (instance.process(call, doc), call)
    }

    private func run(command: [String], options: [String: String] = [:], id: String = "doc1",
                     path: String? = nil, stage: Int = 0, input: [UInt8]? = nil) throws -> (Outcome, CallContext) {
        var values = options
        values["command"] = ExecProcessor.argvJSON(command)
        let instance = try start(values)
        defer { instance.stop() }
        return run(instance, id: id, path: path, stage: stage, input: input)
    }

    private func text(_ call: CallContext) -> String? {
        call.output.map { String(decoding: $0, as: UTF8.self) }
    }

    private func makeTempDir() -> String {
        var template = Array("/tmp/bc-exec-test.XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        addTeardownBlock {
            _ = try? ChildProcess.run(ChildProcess.Request(argv: ["rm", "-rf", dir]))
        }
        return dir
    }

    private func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        XCTAssertGreaterThanOrEqual(fd, 0, "cannot create \(path)")
        bytes.withUnsafeBytes { raw in _ = write(fd, raw.baseAddress, raw.count) }
        close(fd)
    }

    private func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// (state, pgrp) from /proc/<pid>/stat, nil when the process is gone.
    private func procStat(_ pid: pid_t) -> (state: Character, pgrp: pid_t)? {
        guard let bytes = readFile("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let pgrp = pid_t(fields[2]) else { return nil }
        return (state, pgrp)
    }

    /// Running (not zombie) processes.
    private func isRunning(_ pid: pid_t) -> Bool {
        guard let s = procStat(pid) else { return false }
        return s.state != "Z" && s.state != "X"
    }

    /// Running processes whose process group is `pgid`.
    private func runningMembers(ofGroup pgid: pid_t) -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var members: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard let pid = pid_t(name), let s = procStat(pid) else { continue }
            if s.pgrp == pgid && s.state != "Z" && s.state != "X" { members.append(pid) }
        }
        return members
    }

    private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = monotonicNanos() + UInt64(seconds * 1e9)
        while monotonicNanos() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    private func pids(in file: String) -> [pid_t] {
        guard let bytes = readFile(file) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { pid_t($0) }
    }

    // MARK: Info and options

    func testInfo() {
        let info = ExecProcessor().info
        XCTAssertEqual(info.name, "exec")
        XCTAssertEqual(info.kind, .builtin)
        XCTAssertEqual(info.version, "1.0.0")
        XCTAssertEqual(info.description, "Runs a command per document (argv template; {} {path} {id})")
        XCTAssertEqual(info.options?.map(\.name), ["command", "json", "cwd", "max_output", "prepare"])
        XCTAssertEqual(info.options?.first { $0.name == "json" }?.defaultValue, "false")
        XCTAssertEqual(info.options?.first { $0.name == "max_output" }?.defaultValue, "64MiB")
    }

    func testMissingOrEmptyCommandNamesStage() {
        let missing = startError([:], label: "ocr")
        XCTAssertEqual(missing?.code, .option)
        XCTAssertTrue(missing?.message.contains("stage 'ocr'") ?? false, missing?.message ?? "")
        XCTAssertTrue(missing?.message.contains("'command' is required") ?? false, missing?.message ?? "")

        for empty in ["", "   ", "\n\t"] {
            let error = startError(["command": empty], label: "ocr")
            XCTAssertEqual(error?.code, .option)
            XCTAssertTrue(error?.message.contains("stage 'ocr'") ?? false)
            XCTAssertTrue(error?.message.contains("'command' is empty") ?? false, error?.message ?? "")
        }
        for bad in ["[]", "[\"\"]", "echo 'unterminated", "[\"a\", 1]"] {
            let error = startError(["command": bad], label: "ocr")
            XCTAssertEqual(error?.code, .option, bad)
            XCTAssertTrue(error?.message.contains("stage 'ocr'") ?? false, error?.message ?? bad)
            XCTAssertTrue(error?.message.contains("'command'") ?? false, error?.message ?? bad)
        }
    }

    func testBadOptionValues() {
        let json = startError(["command": "true", "json": "maybe"])
        XCTAssertEqual(json?.code, .option)
        XCTAssertTrue(json?.message.contains("stage 's1'") ?? false)
        XCTAssertTrue(json?.message.contains("'json'") ?? false, json?.message ?? "")
        XCTAssertTrue(json?.message.contains("'maybe'") ?? false)

        let size = startError(["command": "true", "max_output": "lots"])
        XCTAssertTrue(size?.message.contains("'max_output'") ?? false, size?.message ?? "")
        XCTAssertTrue(size?.message.contains("'lots'") ?? false)

        let cwd = startError(["command": "true", "cwd": "/no/such/dir"])
        XCTAssertTrue(cwd?.message.contains("'cwd'") ?? false, cwd?.message ?? "")
        XCTAssertTrue(cwd?.message.contains("No such file or directory") ?? false, cwd?.message ?? "")

        let notDir = startError(["command": "true", "cwd": "/etc/passwd"])
        XCTAssertTrue(notDir?.message.contains("not a directory") ?? false, notDir?.message ?? "")
    }

    func testByteSizes() throws {
        XCTAssertEqual(try ValueParser.byteSize("k", "65536", in: 0...Int.max), 65536)
        XCTAssertEqual(try ValueParser.byteSize("k", "64MiB", in: 0...Int.max), 64 << 20)
        XCTAssertEqual(try ValueParser.byteSize("k", "512KiB", in: 0...Int.max), 512 << 10)
        XCTAssertEqual(try ValueParser.byteSize("k", "2G", in: 0...Int.max), 2 << 30)
        XCTAssertEqual(try ValueParser.byteSize("k", "10MB", in: 0...Int.max), 10_000_000)
        XCTAssertEqual(try ValueParser.byteSize("k", " 7 B ", in: 0...Int.max), 7)
        XCTAssertThrowsError(try ValueParser.byteSize("k", "-1", in: 0...Int.max))
        XCTAssertThrowsError(try ValueParser.byteSize("k", "1.5MiB", in: 0...Int.max))
        XCTAssertThrowsError(try ValueParser.byteSize("k", "2GiB", in: 0...(1 << 30)))
    }

    // MARK: Parsing the command

    func testParseJSONArray() throws {
        XCTAssertEqual(try ArgvTemplate.parseCommand(#"["wc","-l","{}"]"#), ["wc", "-l", "{}"])
        XCTAssertEqual(try ArgvTemplate.parseCommand(#"  [ "a b" , "c" ]  "#), ["a b", "c"])
        XCTAssertEqual(try ArgvTemplate.parseCommand(#"["say", "\"hi\"", "a\\b", "\u00e9", "$(x)"]"#),
                       ["say", "\"hi\"", "a\\b", "é", "$(x)"])
        XCTAssertThrowsError(try ArgvTemplate.parseCommand(#"["a", 1]"#))
        XCTAssertThrowsError(try ArgvTemplate.parseCommand(#"["a", "b""#))
        XCTAssertThrowsError(try ArgvTemplate.parseCommand("[]")) { error in
            XCTAssertTrue("\(error)".contains("JSON"), "\(error)")
        }
        // Not JSON at all: test(1) written as words.
        XCTAssertEqual(try ArgvTemplate.parseCommand("[ -f {} ]"), ["[", "-f", "{}", "]"])
    }

    func testParseWords() throws {
        func words(_ s: String) throws -> [String] { try ArgvTemplate.parseCommand(s) }
        XCTAssertEqual(try words("wc -l {}"), ["wc", "-l", "{}"])
        XCTAssertEqual(try words("  a \t b\n c  "), ["a", "b", "c"])
        XCTAssertEqual(try words("grep 'a b' \"c d\" e\\ f"), ["grep", "a b", "c d", "e f"])
        XCTAssertEqual(try words(#"echo "a\"b\\c\$d\`e\x""#), ["echo", #"a"b\c$d`e\x"#])
        XCTAssertEqual(try words(#"echo 'no \escapes "here"'"#), ["echo", #"no \escapes "here""#])
        XCTAssertEqual(try words(#"echo \'\"\\\$"#), ["echo", #"'"\$"#])
        XCTAssertEqual(try words("echo '' a''b \"\""), ["echo", "", "ab", ""])
        XCTAssertEqual(try words("echo \"it's\" 'say \"x\"'"), ["echo", "it's", "say \"x\""])
        XCTAssertEqual(try words("echo a\\\nb \\\n c"), ["echo", "ab", "c"])
        // Nothing is expanded: variables, command substitution, globs, tilde, comments.
        XCTAssertEqual(try words("echo $HOME $(id) `id` *.txt ~ ~/x # not a comment"),
                       ["echo", "$HOME", "$(id)", "`id`", "*.txt", "~", "~/x", "#", "not", "a", "comment"])
        // Quoted shell operators are plain arguments.
        XCTAssertEqual(try words("expr 3 '>' 2 \\| x \"&&\""), ["expr", "3", ">", "2", "|", "x", "&&"])
    }

    func testParseWordErrors() {
        func message(_ s: String) -> String {
            do {
                _ = try ArgvTemplate.parseCommand(s)
                return "no error"
            } catch {
                return error.message
            }
        }
        XCTAssertTrue(message("echo 'abc").contains("unterminated single quote"))
        XCTAssertTrue(message("echo \"abc").contains("unterminated double quote"))
        XCTAssertTrue(message("echo \"a\\\"").contains("unterminated double quote"))
        XCTAssertTrue(message("echo abc\\").contains("backslash"))
        XCTAssertTrue(message("   ").contains("empty"))
        XCTAssertTrue(message("cat {} | wc -l").contains("'|' is a shell operator"), message("cat {} | wc -l"))
        XCTAssertTrue(message("wc -l {} > out").contains("'>' is a shell operator"))
        XCTAssertTrue(message("a && b").contains("'&&'"))
    }

    func testArgvJSONRoundTrips() throws {
        let argv = ["wc", "-l", "{}", "a b", "$(touch pwned)", "q\"uote", "back\\slash", "new\nline\ttab", "é✓", ""]
        let json = ExecProcessor.argvJSON(argv)
        XCTAssertEqual(ExecProcessor.argvJSON(["wc", "-l", "{}"]), #"["wc","-l","{}"]"#)
        XCTAssertEqual(try ArgvTemplate.parseCommand(json), argv)
    }

    // MARK: Placeholders

    func testPlaceholderSubstitution() throws {
        let template = try ArgvTemplate(argv: [
            "cmd", "{}", "--id={id}", "{path}.out", "s{stage}a{attempt}", "{{}}", "{{literal}}", "a}}b{{c", "plain",
        ])
        XCTAssertTrue(template.hasPlaceholders)
        XCTAssertEqual(template.render(path: "/d/x y.pdf", id: "x", stage: 2, attempt: 3), [
            "cmd", "/d/x y.pdf", "--id=x", "/d/x y.pdf.out", "s2a3", "{}", "{literal}", "a}b{c", "plain",
        ])
        XCTAssertFalse(try ArgvTemplate(argv: ["wc", "-l", "{{}}"]).hasPlaceholders)
    }

    func testUnknownBracesAreKeptAsWritten() throws {
        let template = try ArgvTemplate(argv: ["awk", "{print $1}", "x{name}y", "{path", "a}b", "{", "}", "{}{{}}{id}"])
        XCTAssertEqual(template.render(path: "p", id: "i", stage: 0, attempt: 1),
                       ["awk", "{print $1}", "x{name}y", "{path", "a}b", "{", "}", "p{}i"])
        XCTAssertFalse(try ArgvTemplate(argv: ["awk", "{print $1}"]).hasPlaceholders)
        XCTAssertNoThrow(try start(["command": "awk '{print $1}' {}"]))
    }

    func testEmptyCommandIsRefused() {
        XCTAssertThrowsError(try ArgvTemplate(argv: [])) { error in
            XCTAssertTrue((error as? ArgvTemplateError)?.message.contains("empty") ?? false)
        }
    }

    func testPlaceholdersReachTheCommand() throws {
        let (outcome, call) = try run(
            command: ["/bin/sh", "-c", #"printf '%s|' "$@""#, "sh", "{}", "{path}", "{id}", "{stage}", "{attempt}", "x{{y}}"],
            id: "the-id", path: "/some/file name.txt", stage: 0)
        XCTAssertEqual(outcome, .done, call.error ?? "")
        XCTAssertEqual(text(call), "/some/file name.txt|/some/file name.txt|the-id|0|1|x{y}|")

        // No path: {} is the id.
        let (_, noPath) = try run(command: ["/bin/echo", "{}"], id: "only-id")
        XCTAssertEqual(text(noPath), "only-id\n")
    }

    func testNoPlaceholderAppendsThePathInTheFirstStage() throws {
        let count = [#"/bin/sh"#, "-c", #"printf '%s:' "$#" "$@""#, "sh"]
        let (outcome, call) = try run(command: count, path: "/x")
        XCTAssertEqual(outcome, .done, call.error ?? "")
        XCTAssertEqual(text(call), "1:/x:")

        // Unknown braces are no placeholder: the path is still appended.
        let (_, awk) = try run(command: count + ["{print}"], path: "/x")
        XCTAssertEqual(text(awk), "2:{print}:/x:")

        // A later stage reads the previous output on stdin: nothing appended.
        let (_, later) = try run(command: count, path: "/x", stage: 1, input: Array("in".utf8))
        XCTAssertEqual(text(later), "0:")

        // A document without a file has no path to append.
        let (_, noFile) = try run(command: count, id: "only-id")
        XCTAssertEqual(text(noFile), "0:")
    }

    func testRelativePathStartingWithDashIsNeverAnOption() throws {
        let dir = makeTempDir()
        let here = String(cString: getcwd(nil, 0))
        XCTAssertEqual(chdir(dir), 0)
        defer { _ = chdir(here) }
        writeFile(dir + "/--output=PWN", Array("b\na\n".utf8))
        for command in [["sort", "{}"], ["sort"]] {
            let (outcome, call) = try run(command: command, path: "--output=PWN")
            XCTAssertEqual(outcome, .done, call.error ?? "")
            XCTAssertEqual(text(call), "a\nb\n")
            XCTAssertFalse(exists(dir + "/PWN"), "the path was read as an option")
        }
        let (_, echoed) = try run(command: ["/bin/echo", "{path}"], path: "-n")
        XCTAssertEqual(text(echoed), "./-n\n")
        // An id is not a path: it is passed as it is.
        let (_, byID) = try run(command: ["/bin/echo", "{id}"], id: "-x", path: "-n")
        XCTAssertEqual(text(byID), "-x\n")
    }

    func testAbsolutePathIsRecognisedByItsFirstByte() throws {
        let dir = makeTempDir()
        // "/" and a combining mark are one Character, yet the path is absolute.
        let (_, call) = try run(command: ["/bin/echo", "{}"], options: ["cwd": dir], path: "/\u{301}abc")
        XCTAssertEqual(text(call), "/\u{301}abc\n")
    }

    // MARK: Outcomes

    func testExitZeroIsDone() throws {
        let (outcome, call) = try run(command: ["/bin/sh", "-c", "printf hello; echo chatter >&2"])
        XCTAssertEqual(outcome, .done)
        XCTAssertEqual(text(call), "hello")
        XCTAssertNil(call.error)
        XCTAssertFalse(call.outputIsJSON)
    }

    func testWordsCommandRuns() throws {
        let instance = try start(["command": "printf '%s-%s' {id} \"two words\""])
        let (outcome, call) = run(instance, id: "a")
        XCTAssertEqual(outcome, .done, call.error ?? "")
        XCTAssertEqual(text(call), "a-two words")
    }

    func testTempFailIsRetryWithStderr() throws {
        let (outcome, call) = try run(command: ["/bin/sh", "-c", "echo 'server busy, try later' >&2; exit 75"])
        XCTAssertEqual(outcome, .retry)
        XCTAssertEqual(call.error, "server busy, try later")

        let (quiet, quietCall) = try run(command: ["/bin/sh", "-c", "exit 75"])
        XCTAssertEqual(quiet, .retry)
        XCTAssertEqual(quietCall.error, "exit status 75 (temporary failure)")
    }

    func testOtherExitIsFailWithStderr() throws {
        let (outcome, call) = try run(command: ["/bin/sh", "-c", "echo partial; echo '  bad input  ' >&2; exit 3"])
        XCTAssertEqual(outcome, .fail)
        XCTAssertEqual(call.error, "exit status 3: bad input")

        let (_, quiet) = try run(command: ["/bin/false"])
        XCTAssertEqual(quiet.error, "exit status 1")
    }

    func testStderrInErrorKeepsLast4KiB() throws {
        let script = "head -c 10000 /dev/zero | tr '\\0' a >&2; echo THE-END >&2; exit 2"
        let (outcome, call) = try run(command: ["/bin/sh", "-c", script])
        XCTAssertEqual(outcome, .fail)
        let error = try XCTUnwrap(call.error)
        XCTAssertTrue(error.hasPrefix("exit status 2: …aaa"), String(error.prefix(40)))
        XCTAssertTrue(error.hasSuffix("aaaaTHE-END"), String(error.suffix(40)).debugDescription)
        XCTAssertLessThanOrEqual(error.utf8.count, 4096 + 40)
    }

    func testKilledBySignal() throws {
        let (outcome, call) = try run(command: ["/bin/sh", "-c", "kill -SEGV $$"])
        XCTAssertEqual(outcome, .fail)
        XCTAssertTrue(call.error?.hasPrefix("killed by SIGSEGV") ?? false, call.error ?? "")

        let (_, term) = try run(command: ["/bin/sh", "-c", "kill -TERM $$"])
        XCTAssertEqual(term.error, "killed by SIGTERM")
    }

    func testCommandNotFound() throws {
        let (outcome, call) = try run(command: ["no-such-command-bc-test", "{}"], path: "/x")
        XCTAssertEqual(outcome, .fail)
        XCTAssertEqual(call.error, "cannot run 'no-such-command-bc-test': No such file or directory")

        let (_, absolute) = try run(command: ["/no/such/program"])
        XCTAssertEqual(absolute.error, "cannot run '/no/such/program': No such file or directory")
    }

    func testCommandNotExecutable() throws {
        let dir = makeTempDir()
        writeFile(dir + "/script", Array("#!/bin/sh\necho hi\n".utf8), mode: 0o644)
        let (outcome, call) = try run(command: [dir + "/script"])
        XCTAssertEqual(outcome, .fail)
        XCTAssertEqual(call.error, "cannot run '\(dir)/script': Permission denied")
    }

    // MARK: stdin, large data

    func testStdinIsInputFromStageOneOn() throws {
        let (outcome, call) = try run(command: ["cat"], stage: 1, input: Array("from stage 0".utf8))
        XCTAssertEqual(outcome, .done)
        XCTAssertEqual(text(call), "from stage 0")

        // First stage: stdin is /dev/null, so cat ends at once.
        let (first, firstCall) = try run(command: ["cat"], stage: 0, input: nil)
        XCTAssertEqual(first, .done)
        XCTAssertEqual(firstCall.output, [])

        // Empty input: EOF at once as well.
        let (_, empty) = try run(command: ["cat"], stage: 1, input: [])
        XCTAssertEqual(empty.output, [])
    }

    func testLargeInputAndOutputDoNotDeadlock() throws {
        let size = 5 << 20
        var input = [UInt8](repeating: 0, count: size)
        for k in 0..<size { input[k] = UInt8(truncatingIfNeeded: k &* 31 &+ k >> 11) }
        let (outcome, call) = try run(command: ["cat"], stage: 1, input: input)
        XCTAssertEqual(outcome, .done, call.error ?? "")
        XCTAssertEqual(call.output?.count, size)
        XCTAssertTrue(call.output == input)
    }

    func testLargeStdoutAndStderrTogether() throws {
        // 5 MiB on stderr before anything on stdout, then 5 MiB on stdout.
        let script = "head -c 5242880 /dev/zero >&2; head -c 5242880 /dev/zero | tr '\\0' x; exit 1"
        let (outcome, call) = try run(command: ["/bin/sh", "-c", script])
        XCTAssertEqual(outcome, .fail)
        XCTAssertTrue(call.error?.hasPrefix("exit status 1") ?? false)
    }

    func testUnreadInputDoesNotHurtTheHost() throws {
        // The child exits without reading 5 MiB of stdin: our writes hit
        // EPIPE, which must not raise SIGPIPE in this process.
        let (outcome, call) = try run(command: ["/bin/sh", "-c", "printf ok"], stage: 1,
                                      input: [UInt8](repeating: 65, count: 5 << 20))
        XCTAssertEqual(outcome, .done)
        XCTAssertEqual(text(call), "ok")
    }

    func testMaxOutputStopsTheCommand() throws {
        let start = monotonicNanos()
        let (outcome, call) = try run(command: ["/bin/sh", "-c", "while :; do echo yyyyyyyyyyyyyyyy; done"],
                                      options: ["max_output": "100KiB"])
        XCTAssertEqual(outcome, .fail)
        XCTAssertTrue(call.error?.contains("max_output (102400 bytes)") ?? false, call.error ?? "")
        XCTAssertLessThan(monotonicNanos() - start, 5_000_000_000)

        let (fits, fitsCall) = try run(command: ["head", "-c", "1000", "/dev/zero"], options: ["max_output": "1000"])
        XCTAssertEqual(fits, .done)
        XCTAssertEqual(fitsCall.output?.count, 1000)
    }

    // MARK: Security

    func testFileNameIsNeverInterpretedByAShell() throws {
        let dir = makeTempDir()
        let name = "$(touch pwned).txt"
        let evil = dir + "/" + name
        writeFile(evil, Array("content".utf8))
        let here = String(cString: getcwd(nil, 0))

        // Words form, with cwd at the directory: echo gets the name verbatim.
        let instance = try start(["command": "/bin/echo {}", "cwd": dir])
        let (outcome, call) = run(instance, id: name, path: evil)
        XCTAssertEqual(outcome, .done, call.error ?? "")
        XCTAssertEqual(text(call), evil + "\n")

        // The id itself, relative, through {id}.
        let (_, byID) = run(try start(["command": "/bin/echo {id}", "cwd": dir]), id: name, path: evil)
        XCTAssertEqual(text(byID), name + "\n")

        // Even a shell the user wrote sees it only as data in "$1".
        let (_, viaSh) = try run(command: ["sh", "-c", #"printf %s "$1"; cat -- "$1""#, "sh", "{}"],
                                 options: ["cwd": dir], path: evil)
        XCTAssertEqual(text(viaSh), evil + "content")

        // Other shell metacharacters in names, all in one argv element each.
        for other in ["a;touch pwned", "`touch pwned`", "x' 'y", "*", "|touch pwned", "--help", "{}"] {
            let (_, call) = try run(command: ["/bin/echo", "{}"], options: ["cwd": dir], path: dir + "/" + other)
            XCTAssertEqual(text(call), dir + "/" + other + "\n")
        }

        XCTAssertFalse(exists(dir + "/pwned"), "a shell ran the file name")
        XCTAssertFalse(exists(here + "/pwned"), "a shell ran the file name")
    }

    func testRelativePathsFollowCwdOption() throws {
        let dir = makeTempDir()
        let here = String(cString: getcwd(nil, 0))
        let (outcome, call) = try run(command: ["/bin/sh", "-c", #"pwd; printf %s "$1""#, "sh", "{}"],
                                      options: ["cwd": dir], path: "docs/a.txt")
        XCTAssertEqual(outcome, .done)
        let realDir = String(cString: realpath(dir, nil))
        XCTAssertEqual(text(call), realDir + "\n" + here + "/docs/a.txt")
    }

    // MARK: JSON output

    func testJSONOutput() throws {
        let (outcome, call) = try run(command: ["printf", #"{{"pages": 3}}"#], options: ["json": "true"])
        XCTAssertEqual(outcome, .done)
        XCTAssertTrue(call.outputIsJSON)
        XCTAssertEqual(text(call), #"{"pages": 3}"#)

        let (bad, badCall) = try run(command: ["printf", "pages: 3"], options: ["json": "yes"])
        XCTAssertEqual(bad, .partial)
        XCTAssertEqual(badCall.error, "output is not valid JSON")
        XCTAssertFalse(badCall.outputIsJSON)
        XCTAssertEqual(text(badCall), "pages: 3")

        let (plain, plainCall) = try run(command: ["printf", "pages: 3"], options: ["json": "false"])
        XCTAssertEqual(plain, .done)
        XCTAssertFalse(plainCall.outputIsJSON)
    }

    // MARK: Cancellation and process groups

    func testCancellationKillsChildAndGrandchild() throws {
        let dir = makeTempDir()
        let pidFile = dir + "/pids"
        let script = #"echo $$ > "$1"; sleep 100 & echo $! >> "$1"; sleep 100"#
        let instance = try start(["command": ExecProcessor.argvJSON(["/bin/sh", "-c", script, "sh", pidFile])])
        let cancel = CancelFlag()
        startThread(name: "test-cancel") {
            let deadline = monotonicNanos() + 10_000_000_000
            while monotonicNanos() < deadline {
                if let bytes = readFile(pidFile), bytes.split(separator: 10).count >= 2 { break }
                usleep(20_000)
            }
            cancel.set()
        }
        let begin = monotonicNanos()
        let (outcome, call) = run(instance, cancel: cancel)
        let elapsed = Double(monotonicNanos() - begin) / 1e9

        XCTAssertEqual(outcome, .retry)
        XCTAssertEqual(call.error, "cancelled")
        XCTAssertLessThan(elapsed, 5, "cancellation took \(elapsed) s")

        let pids = pids(in: pidFile)
        XCTAssertEqual(pids.count, 2, "the script did not record its pids")
        guard pids.count == 2 else { return }
        // The shell (group leader) is reaped: no such process at all.
        XCTAssertNil(procStat(pids[0]), "the child was not reaped")
        XCTAssertTrue(waitUntil(seconds: 3) { !isRunning(pids[1]) }, "the grandchild survived")
        XCTAssertTrue(waitUntil(seconds: 3) { runningMembers(ofGroup: pids[0]).isEmpty },
                      "processes left in the group: \(runningMembers(ofGroup: pids[0]))")
    }

    func testSIGTERMIgnoredEscalatesToSIGKILL() throws {
        let dir = makeTempDir()
        let pidFile = dir + "/pid"
        let script = #"trap '' TERM; echo $$ > "$1"; while :; do sleep 1; done"#
        let instance = try start(["command": ExecProcessor.argvJSON(["/bin/sh", "-c", script, "sh", pidFile])])
        let cancel = CancelFlag()
        startThread(name: "test-cancel") {
            let deadline = monotonicNanos() + 10_000_000_000
            while monotonicNanos() < deadline, (readFile(pidFile) ?? []).isEmpty { usleep(20_000) }
            usleep(100_000)  // let the shell reach its loop
            cancel.set()
        }
        let begin = monotonicNanos()
        let (outcome, call) = run(instance, cancel: cancel)
        let elapsed = Double(monotonicNanos() - begin) / 1e9
        XCTAssertEqual(outcome, .retry)
        XCTAssertEqual(call.error, "cancelled")
        XCTAssertGreaterThanOrEqual(elapsed, 2.0, "SIGKILL came before the grace period")
        XCTAssertLessThan(elapsed, 6)
        if let pid = pids(in: pidFile).first {
            XCTAssertNil(procStat(pid))
            XCTAssertTrue(waitUntil(seconds: 3) { runningMembers(ofGroup: pid).isEmpty })
        } else {
            XCTFail("the script did not record its pid")
        }
    }

    func testCancelledBeforeStartRunsNothing() throws {
        let dir = makeTempDir()
        let instance = try start(["command": ExecProcessor.argvJSON(["touch", dir + "/ran"])])
        let cancel = CancelFlag()
        cancel.set()
        let (outcome, call) = run(instance, cancel: cancel)
        XCTAssertEqual(outcome, .retry)
        XCTAssertEqual(call.error, "cancelled")
        XCTAssertFalse(exists(dir + "/ran"))
    }

    func testLeftoverBackgroundProcessIsKilled() throws {
        let dir = makeTempDir()
        let pidFile = dir + "/pid"
        // The background sleep keeps stdout open; the call must still end
        // when the shell exits, and the sleep must not outlive the document.
        let script = #"sleep 100 & echo $! > "$1"; echo started"#
        let begin = monotonicNanos()
        let (outcome, call) = try run(command: ["/bin/sh", "-c", script, "sh", pidFile])
        XCTAssertEqual(outcome, .done)
        XCTAssertEqual(text(call), "started\n")
        XCTAssertLessThan(monotonicNanos() - begin, 5_000_000_000)
        if let pid = pids(in: pidFile).first {
            XCTAssertTrue(waitUntil(seconds: 3) { !isRunning(pid) }, "the background process survived")
        } else {
            XCTFail("the script did not record its pid")
        }
    }

    func testChildRunsInItsOwnProcessGroup() throws {
        let result = try ChildProcess.run(ChildProcess.Request(argv: ["/bin/sh", "-c", "cut -d' ' -f5 /proc/$$/stat"]))
        let pgid = pid_t(String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: " \n"))
        XCTAssertEqual(pgid, result.pid)
        XCTAssertNotEqual(pgid, getpgrp())
    }

    func testChildSeesOnlyStandardDescriptors() throws {
        // A descriptor this process leaves inheritable must not leak.
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        let result = try ChildProcess.run(ChildProcess.Request(argv: ["/bin/sh", "-c", "ls /proc/self/fd"]))
        let fds = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
        // 0, 1, 2 and the directory ls itself opened.
        XCTAssertTrue(fds.allSatisfy { $0 <= 3 }, "\(fds)")
        XCTAssertFalse(fds.contains(Int(fd)) && fd > 3)
    }

    func testConcurrentCallsKeepTheirOwnOutputAndLeakNoDescriptors() throws {
        let instance = try start(["command": #"["/bin/sh", "-c", "printf '%s' \"$1\"; cat", "sh", "{id}"]"#])
        // Warm up once so lazily opened descriptors do not count as leaks.
        _ = run(instance, id: "warm-up")
        let before = openDescriptorCount()

        let threads = 4, perThread = 25
        let mismatches = Mismatches()
        let done = CancelFlag()
        let finished = Counter()
        for t in 0..<threads {
            startThread(name: "test-exec-\(t)") {
                for k in 0..<perThread {
                    let id = "t\(t)-doc\(k)"
                    let call = CallContext(cancelFlag: CancelFlag())
                    let doc = DocumentInput(document: Document(id: id, path: nil), stage: 1, attempt: 1,
                                            input: Array(":\(id)".utf8))
                    let outcome = instance.process(call, doc)
                    if outcome != .done || call.output != Array("\(id):\(id)".utf8) { mismatches.add(id) }
                }
                if finished.increment() == threads { done.set() }
            }
        }
        XCTAssertTrue(waitUntil(seconds: 60) { done.isSet }, "the calls did not finish")
        XCTAssertEqual(mismatches.ids, [])
        XCTAssertEqual(openDescriptorCount(), before, "descriptors leaked")
    }

    private func openDescriptorCount() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(dir) }
        var count = 0
        while readdir(dir) != nil { count += 1 }
        return count
    }

    func testHostIgnoringSIGCHLDGetsAClearFailure() throws {
        // With SIGCHLD ignored the kernel reaps children itself and their
        // status is lost; the call must still end, with a clear message.
        let old = signal(SIGCHLD, SIG_IGN)
        defer { signal(SIGCHLD, old) }
        let (outcome, call) = try run(command: ["/bin/sh", "-c", "printf ok"])
        XCTAssertEqual(outcome, .fail)
        XCTAssertTrue(call.error?.contains("exit status unknown") ?? false, call.error ?? "")
    }

    func testEnvironmentIsInherited() throws {
        setenv("BC_EXEC_TEST_VAR", "inherited value", 1)
        defer { unsetenv("BC_EXEC_TEST_VAR") }
        let (_, call) = try run(command: ["/bin/sh", "-c", #"printf %s "$BC_EXEC_TEST_VAR""#])
        XCTAssertEqual(text(call), "inherited value")
    }
}

private final class Mismatches: @unchecked Sendable {
    private let monitor = Monitor()
    private var list: [String] = []
    func add(_ id: String) { monitor.withLock { list.append(id) } }
    var ids: [String] { monitor.withLock { list } }
}

private final class Counter: @unchecked Sendable {
    private let monitor = Monitor()
    private var value = 0
    func increment() -> Int { monitor.withLock { value += 1; return value } }
}

fileprivate func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}


private extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
