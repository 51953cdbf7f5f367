@testable import BatchCore
import Glibc
import XCTest

/// Declared processors: the declaration format's checks, the shipped crc32
/// and filetype declarations run through real batches, and per-thread handles.
final class DeclaredProcessorTests: XCTestCase {
    static let repository: String = {
        let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        return parts.dropLast(3).joined(separator: "/")
    }()
    static let plugins = repository + "/plugins"

    // MARK: Helpers

    private var directory = ""

    override func setUp() {
        var template = Array("/tmp/bc-declared-test.XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let dir = directory
        addTeardownBlock { _ = try? ChildProcess.run(ChildProcess.Request(argv: ["rm", "-rf", dir])) }
    }

    @discardableResult
    private func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0, "cannot create \(path)")
        bytes.withUnsafeBytes { raw in _ = Glibc.write(fd, raw.baseAddress, raw.count) }
        close(fd)
        return path
    }

    @discardableResult
    private func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    /// Loads a declaration written to a file named `name`; returns the error message.
    private func loadError(_ text: String, name: String = "decl.toml", file: StaticString = #filePath, line: UInt = #line) -> String {
        let path = write(name, text)
        do {
            _ = try DeclaredProcessor(path: path)
            XCTFail("the declaration loaded, but an error was expected", file: file, line: line)
            return ""
        } catch let error as BatchCoreError {
            XCTAssertEqual(error.code, .plugin, file: file, line: line)
            return error.message
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
            return ""
        }
    }

    /// Asserts a load error names the file, then the field, then says `what`.
    private func assertLoadError(_ text: String, field: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let message = loadError(text, file: file, line: line)
        let prefix = "\(directory)/decl.toml: \(field): "
        XCTAssertTrue(message.hasPrefix(prefix), "expected the message to start with '\(prefix)': \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(what), "expected '\(what)' in: \(message)", file: file, line: line)
    }

    private func runOne(_ instance: ProcessorInstance, id: String = "doc", path: String? = nil, input: [UInt8]? = nil) -> (Outcome, CallContext) {
        let call = CallContext(cancelFlag: CancelFlag())
        let doc = DocumentInput(document: Document(id: id, path: path), stage: 0, attempt: 1, input: input)
        return (instance.process(call, doc), call)
    }

    private func text(_ call: CallContext) -> String? { call.output.map { String(decoding: $0, as: UTF8.self) } }

    /// Runs `processor` over `paths` in a batch; results by path.
    private func runBatch(_ processor: String, paths: [String], workers: Int = 4) throws -> [String: DocumentResult] {
        let engine = Engine()
        try engine.set("plugin_dir", Self.plugins)
        let batch = Batch(engine: engine)
        _ = try batch.addStage(processor: processor)
        for path in paths { try batch.add(FileSource(path: path)) }
        try batch.set("workers", "\(workers)")
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        var results: [String: DocumentResult] = [:]
        for result in batch.finishedResults { results[result.document.path ?? result.document.id] = result }
        XCTAssertEqual(results.count, paths.count)
        return results
    }

    /// CRC-32 (IEEE 802.3, as zlib computes it), written out here so the
    /// expected values do not come from the library under test.
    private func referenceCRC32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    private let crc32Process = """
        [process]
        function = "crc32"
        returns = "ulong"
        args = [{ type = "ulong", from = "const", value = 0 }, { type = "pointer", from = "bytes" }, { type = "uint", from = "length" }]
        output = { from = "return", format = "hex", width = 8 }
        """

    // MARK: The shipped declarations

    func testShippedDeclarationsParse() throws {
        let crc = try DeclarationParser.parse(file: Self.plugins + "/crc32.toml")
        XCTAssertEqual(crc.name, "crc32")
        XCTAssertEqual(crc.library, "libz.so.1")
        XCTAssertTrue(crc.threadSafe)
        XCTAssertFalse(crc.hasHandle)
        XCTAssertEqual(crc.process.args.map(\.source), [.constant(.integer(0)), .bytes, .length])
        XCTAssertEqual(crc.output, .number(.hex(width: 8)))

        let magic = try DeclarationParser.parse(file: Self.plugins + "/filetype.toml")
        XCTAssertEqual(magic.name, "filetype")
        XCTAssertFalse(magic.threadSafe)
        XCTAssertEqual(magic.initCalls.map(\.function), ["magic_open", "magic_load"])
        XCTAssertEqual(magic.initCalls[1].failsIf, .equals(-1))
        XCTAssertEqual(magic.process.errorMessage, .function("magic_error"))
        XCTAssertEqual(magic.cleanup?.function, "magic_close")
        XCTAssertEqual(magic.output, .string)
    }

    func testCRC32MatchesReferenceForEveryFile() throws {
        var contents: [String: [UInt8]] = [
            "empty.bin": [],
            "one.bin": [0x61],
            "text.txt": Array("The quick brown fox jumps over the lazy dog\n".utf8),
            "zeros.bin": [UInt8](repeating: 0, count: 70_000),
        ]
        var generator = SystemRandomNumberGenerator()
        for size in [3, 255, 4096, 200_003] {
            contents["random-\(size).bin"] = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        let paths = contents.keys.sorted().map { write($0, contents[$0]!) }
        let results = try runBatch("crc32", paths: paths)
        for path in paths {
            let name = String(path.split(separator: "/").last!)
            let result = try XCTUnwrap(results[path])
            XCTAssertEqual(result.status, .ok, "\(name): \(result.error ?? "")")
            XCTAssertEqual(result.output.map { String(decoding: $0, as: UTF8.self) }, hex8(referenceCRC32(contents[name]!)), name)
        }
        // The reference itself gives the standard check value.
        XCTAssertEqual(hex8(referenceCRC32(Array("123456789".utf8))), "cbf43926")
    }

    func testCRC32OfPreviousStageOutputUsesThatOutput() throws {
        let processor = try DeclaredProcessor(path: Self.plugins + "/crc32.toml")
        let instance = try processor.start(config: StageConfig(label: "crc32", values: [:]))
        defer { instance.stop() }
        let input = Array("123456789".utf8)
        let (outcome, call) = runOne(instance, path: "/does/not/matter", input: input)
        XCTAssertEqual(outcome, .done, call.error ?? "")
        XCTAssertEqual(text(call), "cbf43926")  // the standard CRC-32 check value
    }

    func testCRC32OfAnUnreadableFileFailsThatDocument() throws {
        let processor = try DeclaredProcessor(path: Self.plugins + "/crc32.toml")
        let instance = try processor.start(config: StageConfig(label: "crc32", values: [:]))
        defer { instance.stop() }
        let (outcome, call) = runOne(instance, path: directory + "/missing.bin")
        XCTAssertEqual(outcome, .fail)
        XCTAssertEqual(call.error, "cannot read '\(directory)/missing.bin': No such file or directory")
        let (dirOutcome, dirCall) = runOne(instance, path: directory)
        XCTAssertEqual(dirOutcome, .fail)
        XCTAssertEqual(dirCall.error, "cannot read '\(directory)': Is a directory")
    }

    func testFiletypeWithSeveralWorkersNamesEachType() throws {
        var paths: [String: String] = [:]
        for i in 0..<12 {
            paths[write("text-\(i).txt", "plain words, line \(i)\n")] = "text/plain"
            paths[write("doc-\(i).pdf", "%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")] = "application/pdf"
        }
        let results = try runBatch("filetype", paths: paths.keys.sorted(), workers: 4)
        for (path, expected) in paths {
            let result = try XCTUnwrap(results[path])
            XCTAssertEqual(result.status, .ok, "\(path): \(result.error ?? "")")
            XCTAssertEqual(result.output.map { String(decoding: $0, as: UTF8.self) }, expected, path)
        }
    }

    func testAFunctionReturningItsErrorValueFailsWithTheLibrarysMessage() throws {
        let processor = try DeclaredProcessor(path: Self.plugins + "/filetype.toml")
        let instance = try processor.start(config: StageConfig(label: "filetype", values: [:]))
        defer { instance.stop() }
        let missing = directory + "/no-such-file"
        let (outcome, call) = runOne(instance, path: missing)
        XCTAssertEqual(outcome, .fail)
        // magic_file() returned NULL; magic_error() says why, in libmagic's words.
        XCTAssertEqual(call.error, "magic_file(): cannot stat `\(missing)' (No such file or directory)")
        // The handle still works for the next document.
        let (next, nextCall) = runOne(instance, path: write("ok.txt", "fine\n"))
        XCTAssertEqual(next, .done)
        XCTAssertEqual(text(nextCall), "text/plain")
    }

    func testErrorValueWithoutMessageFunctionSaysWhatWasReturned() throws {
        // readlink(2): ssize_t readlink(const char *path, char *buf, size_t size), -1 on failure.
        let declaration = """
            library = "libc.so.6"
            thread_safe = true
            [process]
            function = "readlink"
            returns = "ssize_t"
            args = [
                { type = "string", from = "path" },
                { type = "pointer", from = "buffer", capacity = 256 },
                { type = "size_t", from = "capacity" },
            ]
            fails_if = -1
            output = { from = "buffer", length = "return" }
            """
        let processor = try DeclaredProcessor(path: write("readlink.toml", declaration))
        XCTAssertEqual(processor.info.kind, .declared)
        XCTAssertEqual(processor.info.name, "readlink")
        let instance = try processor.start(config: StageConfig(label: "readlink", values: [:]))
        defer { instance.stop() }

        let link = directory + "/link"
        XCTAssertEqual(symlink("some/target.txt", link), 0)
        let (outcome, call) = runOne(instance, path: link)
        XCTAssertEqual(outcome, .done, call.error ?? "")
        XCTAssertEqual(text(call), "some/target.txt")

        let (failed, failedCall) = runOne(instance, path: write("regular", "x"))
        XCTAssertEqual(failed, .fail)
        XCTAssertEqual(failedCall.error, "readlink() returned -1, its declared error value")

        let (noPath, noPathCall) = runOne(instance, id: "no-path")
        XCTAssertEqual(noPath, .fail)
        XCTAssertEqual(noPathCall.error, "document 'no-path' has no path, which process.args[0] (from = \"path\") needs")

        // With errno as the message source, the failure says why.
        let errnoDeclaration = declaration.replacingFirst("fails_if = -1", "fails_if = -1\nerror_message = \"strerror(errno)\"")
        let withErrno = try DeclaredProcessor(path: write("readlink-errno.toml", errnoDeclaration))
        XCTAssertEqual(withErrno.declaration.process.errorMessage, .errno)
        let errnoInstance = try withErrno.start(config: StageConfig(label: "readlink", values: [:]))
        defer { errnoInstance.stop() }
        let (errnoOutcome, errnoCall) = runOne(errnoInstance, path: directory + "/regular")
        XCTAssertEqual(errnoOutcome, .fail)
        XCTAssertEqual(errnoCall.error, "readlink(): Invalid argument")
        let (missingOutcome, missingCall) = runOne(errnoInstance, path: directory + "/missing")
        XCTAssertEqual(missingOutcome, .fail)
        XCTAssertEqual(missingCall.error, "readlink(): No such file or directory")
    }

    func testNumbersStringsAndNulTerminatedBuffers() throws {
        // size_t strlen(const char *) over the id, in decimal.
        let strlenDecl = """
            library = "libc.so.6"
            thread_safe = true
            [process]
            function = "strlen"
            returns = "size_t"
            args = [{ type = "string", from = "id" }]
            output = { from = "return" }
            """
        let strlenInstance = try DeclaredProcessor(path: write("strlen.toml", strlenDecl)).start(config: StageConfig(label: "s", values: [:]))
        defer { strlenInstance.stop() }
        XCTAssertEqual(text(runOne(strlenInstance, id: "twelve chars").1), "12")

        // char *strncpy(char *dest, const char *src, size_t n): the buffer up to its NUL.
        let copyDecl = """
            library = "libc.so.6"
            [process]
            function = "strncpy"
            returns = "pointer"
            args = [
                { type = "pointer", from = "buffer", capacity = 8 },
                { type = "string", from = "const", value = "constant" },
                { type = "size_t", from = "const", value = 5 },
            ]
            output = { from = "buffer" }
            """
        let copyInstance = try DeclaredProcessor(path: write("copy.toml", copyDecl)).start(config: StageConfig(label: "c", values: [:]))
        defer { copyInstance.stop() }
        XCTAssertEqual(text(runOne(copyInstance).1), "const")

        // int abs(int) of a negative constant, and labs() in hex of a signed value.
        let absDecl = """
            library = "libc.so.6"
            [process]
            function = "abs"
            returns = "int"
            args = [{ type = "int", from = "const", value = -42 }]
            output = { from = "return", format = "decimal" }
            """
        let absInstance = try DeclaredProcessor(path: write("abs.toml", absDecl)).start(config: StageConfig(label: "a", values: [:]))
        defer { absInstance.stop() }
        XCTAssertEqual(text(runOne(absInstance).1), "42")
    }

    // MARK: Declaration errors name the file and the field

    func testUnknownLibrary() {
        let message = loadError("library = \"libdoes-not-exist.so.7\"\n" + crc32Process)
        XCTAssertTrue(message.hasPrefix("\(directory)/decl.toml: library: cannot load 'libdoes-not-exist.so.7': "), message)
        XCTAssertTrue(message.contains("cannot open shared object file"), message)
    }

    func testLibraryPathIsRelativeToTheDeclaration() throws {
        // "../x/libz.so.1"-style paths resolve against the file's directory.
        XCTAssertEqual(DeclaredProcessor.resolve(library: "lib/libfoo.so", declaredIn: "/p/plugins/foo.toml"), "/p/plugins/lib/libfoo.so")
        XCTAssertEqual(DeclaredProcessor.resolve(library: "libz.so.1", declaredIn: "/p/plugins/foo.toml"), "libz.so.1")
        XCTAssertEqual(DeclaredProcessor.resolve(library: "/usr/lib/libz.so", declaredIn: "plugins/foo.toml"), "/usr/lib/libz.so")
        // Paths compare by byte: "/" and a combining mark are one Character.
        XCTAssertEqual(DeclaredProcessor.resolve(library: "/\u{301}lib/libz.so", declaredIn: "plugins/foo.toml"), "/\u{301}lib/libz.so")
        XCTAssertEqual(DeclaredProcessor.resolve(library: "lib/libz.so", declaredIn: "p/\u{301}foo.toml"), "p/lib/libz.so")
    }

    func testUnknownSymbol() {
        assertLoadError("library = \"libz.so.1\"\n" + crc32Process.replacingFirst("\"crc32\"", "\"crc33\""),
                        field: "process.function", "'crc33' is not a function of libz.so.1")
    }

    func testUnknownErrorMessageSymbol() {
        let text = """
            library = "libmagic.so.1"
            [[init]]
            function = "magic_open"
            returns = "handle"
            args = [{ type = "int", from = "const", value = 0 }]
            [process]
            function = "magic_file"
            returns = "string"
            args = [{ type = "handle", from = "handle" }, { type = "string", from = "path" }]
            fails_if = "null"
            error_message = "magic_eror"
            output = { from = "return" }
            """
        assertLoadError(text, field: "process.error_message", "'magic_eror' is not a function of libmagic.so.1")
    }

    func testUnknownType() {
        assertLoadError("library = \"libz.so.1\"\n" + crc32Process.replacingFirst("\"uint\"", "\"uint33\""),
                        field: "process.args[2].type", "unknown type 'uint33' (did you mean 'uint32'?); expected one of int8, uint8")
        assertLoadError("library = \"libz.so.1\"\n" + crc32Process.replacingFirst("returns = \"ulong\"", "returns = \"unsigned lung\""),
                        field: "process.returns", "unknown type 'unsigned lung'")
    }

    func testUnknownSource() {
        assertLoadError("library = \"libz.so.1\"\n" + crc32Process.replacingFirst("from = \"bytes\"", "from = \"bytez\""),
                        field: "process.args[1].from",
                        "unknown source 'bytez' (did you mean 'bytes'?); expected one of bytes, length, path, id, handle, const, null, buffer, capacity, written")
    }

    func testInconsistentArgumentSources() {
        let header = "library = \"libz.so.1\"\n"
        func process(_ args: String, returns: String = "int", output: String = "{ from = \"return\" }") -> String {
            header + """
                [process]
                function = "crc32"
                returns = "\(returns)"
                args = [\(args)]
                output = \(output)
                """
        }
        assertLoadError(process(#"{ type = "handle", from = "handle" }"#), field: "process.args[0].from",
                        "source 'handle' needs a handle, but nothing creates one: add an [[init]] call with returns = \"handle\"")
        assertLoadError(process(#"{ type = "uint", from = "bytes" }"#), field: "process.args[0].type",
                        "source 'bytes' needs a pointer or string type, not uint")
        assertLoadError(process(#"{ type = "string", from = "length" }"#), field: "process.args[0].type",
                        "source 'length' needs an integer type")
        assertLoadError(process(#"{ type = "int", from = "path" }"#), field: "process.args[0].type",
                        "source 'path' needs type string")
        assertLoadError(process(#"{ type = "size_t", from = "capacity" }"#), field: "process.args[0].from",
                        "source 'capacity' describes the output buffer, but no argument has from = \"buffer\"")
        assertLoadError(process(#"{ type = "pointer", from = "written" }"#), field: "process.args[0].from",
                        "source 'written' describes the output buffer, but no argument has from = \"buffer\"")
        assertLoadError(process(#"{ type = "pointer", from = "buffer" }, { type = "pointer", from = "buffer" }"#),
                        field: "process.args[1].from", "a call takes at most one 'buffer' argument")
        assertLoadError(process(#"{ type = "pointer", from = "buffer", capacity = 300 }, { type = "uint8", from = "capacity" }"#),
                        field: "process.args[1].type", "the buffer's capacity 300 does not fit in uint8 (0…255)")
        assertLoadError(process(#"{ type = "int", from = "const" }"#), field: "process.args[0].value",
                        "a const argument needs a value")
        assertLoadError(process(#"{ type = "int8", from = "const", value = 200 }"#), field: "process.args[0].value",
                        "200 does not fit in int8 (-128…127)")
        assertLoadError(process(#"{ type = "int", from = "const", value = "seven" }"#), field: "process.args[0].value",
                        "expected an integer for type int, got a string")
        assertLoadError(process(#"{ type = "pointer", from = "const", value = 0 }"#), field: "process.args[0].type",
                        "for a NULL pointer use from = \"null\"")
        assertLoadError(process(#"{ type = "int", from = "id", value = 1 }"#), field: "process.args[0].value",
                        "only a const argument takes a value")
        assertLoadError(process(#"{ type = "pointer", from = "buffer", capacity = 0 }"#), field: "process.args[0].capacity",
                        "0 is out of range; expected 1 to")
        assertLoadError(process(#"{ type = "void", from = "null" }"#), field: "process.args[0].type",
                        "void is only a return type")
        assertLoadError(process(#"{ type = "handle", from = "const", value = 1 }"#), field: "process.args[0].type",
                        "for a NULL pointer use from = \"null\"")
        assertLoadError(process(#"{ type = "int", from = "null" }"#), field: "process.args[0].type",
                        "source 'null' needs a pointer type")
        assertLoadError(process(#"{ type = "int" }"#), field: "process.args[0].from", "missing; say where the value comes from")
        assertLoadError(process(#"{ from = "id" }"#), field: "process.args[0].type", "missing; give the C type of argument 0")
        assertLoadError(process(#"{ type = "int", from = "id", size = 4 }"#), field: "process.args[0].size", "unknown field; expected one of type, from, value, capacity")
        assertLoadError(process(#""int""#), field: "process.args[0]", "expected a table such as")
    }

    func testDocumentSourcesAreRefusedOutsideProcess() {
        let text = """
            library = "libmagic.so.1"
            [[init]]
            function = "magic_open"
            returns = "handle"
            args = [{ type = "string", from = "path" }]
            [process]
            function = "magic_file"
            returns = "string"
            args = [{ type = "handle", from = "handle" }, { type = "string", from = "path" }]
            output = { from = "return" }
            """
        assertLoadError(text, field: "init[0].args[0].from", "source 'path' is only available in [process]: init and cleanup run without a document")
    }

    func testHandleRulesForInitAndCleanup() {
        let process = """
            [process]
            function = "magic_file"
            returns = "string"
            args = [{ type = "handle", from = "handle" }, { type = "string", from = "path" }]
            output = { from = "return" }
            """
        assertLoadError("library = \"libmagic.so.1\"\n[[init]]\nfunction = \"magic_open\"\nreturns = \"int\"\n" + process,
                        field: "init[0].returns", "the first init call creates the handle, so it must return it")
        assertLoadError("library = \"libmagic.so.1\"\n[[init]]\nfunction = \"magic_open\"\nreturns = \"handle\"\nargs = [{ type = \"handle\", from = \"handle\" }]\n" + process,
                        field: "init[0].args[0].from", "this call creates the handle, so it cannot take it as an argument")
        assertLoadError("library = \"libmagic.so.1\"\n[cleanup]\nfunction = \"magic_close\"\n" + process.replacingFirst("{ type = \"handle\", from = \"handle\" }, ", ""),
                        field: "cleanup", "there is no handle to clean up")
        assertLoadError("library = \"libmagic.so.1\"\n[[init]]\nfunction = \"magic_open\"\nreturns = \"handle\"\nfails_if = \"null\"\nerror_message = \"magic_error\"\n" + process,
                        field: "init[0].error_message", "there is no handle to ask")
        XCTAssertNoThrow(try DeclarationParser.parse(
            text: "library = \"libmagic.so.1\"\n[[init]]\nfunction = \"magic_open\"\nreturns = \"handle\"\nfails_if = \"null\"\nerror_message = \"strerror(errno)\"\n" + process,
            file: "errno.toml"), "errno needs no handle, so the call that creates it may use it")
        assertLoadError("library = \"libmagic.so.1\"\n[[init]]\nfunction = \"magic_open\"\nreturns = \"handle\"\n" + process.replacingFirst("returns = \"string\"", "returns = \"handle\""),
                        field: "process.returns", "only the first init call returns the handle")
    }

    func testFailureAndOutputRules() {
        let header = "library = \"libz.so.1\"\n"
        func process(returns: String, extra: String, output: String = "{ from = \"return\" }") -> String {
            header + """
                [process]
                function = "crc32"
                returns = "\(returns)"
                \(extra)
                output = \(output)
                """
        }
        assertLoadError(process(returns: "int", extra: "fails_if = \"null\""), field: "process.fails_if", "\"null\" needs a pointer or string return type, not int")
        assertLoadError(process(returns: "uint", extra: "fails_if = \"negative\""), field: "process.fails_if", "\"negative\" needs a signed integer return type, not uint")
        assertLoadError(process(returns: "string", extra: "fails_if = -1"), field: "process.fails_if", "an integer error value needs an integer return type, not string")
        assertLoadError(process(returns: "uint8", extra: "fails_if = 256"), field: "process.fails_if", "256 cannot be returned by uint8")
        assertLoadError(process(returns: "int", extra: "fails_if = \"sometimes\""), field: "process.fails_if", "unknown condition 'sometimes'")
        assertLoadError(process(returns: "int", extra: "error_message = \"zError\""), field: "process.error_message", "also set fails_if")
        assertLoadError(process(returns: "void", extra: ""), field: "process.output.from", "'return' needs a number or string result, but process returns void")
        assertLoadError(process(returns: "string", extra: "", output: "{ from = \"return\", format = \"hex\" }"), field: "process.output.format", "format and width are for numbers")
        assertLoadError(process(returns: "double", extra: "", output: "{ from = \"return\", format = \"hex\" }"), field: "process.output.format", "hex needs an integer return type, not double")
        assertLoadError(process(returns: "int", extra: "", output: "{ from = \"return\", format = \"octal\" }"), field: "process.output.format", "unknown format 'octal'")
        assertLoadError(process(returns: "int", extra: "", output: "{ from = \"return\", format = \"hex\", width = 99 }"), field: "process.output.width", "99 is out of range")
        assertLoadError(process(returns: "int", extra: "", output: "{ from = \"buffer\" }"), field: "process.output.from", "'buffer' needs an argument with from = \"buffer\"")
        assertLoadError(process(returns: "int", extra: "", output: "{ from = \"stdout\" }"), field: "process.output.from", "unknown output source 'stdout'")
        assertLoadError(process(returns: "int", extra: "args = [{ type = \"pointer\", from = \"buffer\" }]", output: "{ from = \"buffer\", length = \"written\" }"),
                        field: "process.output.length", "\"written\" needs an argument with from = \"written\"")
        assertLoadError(header + "[process]\nfunction = \"crc32\"\nreturns = \"int\"\n", field: "process.output", "missing; say how the result becomes the output")
    }

    func testMissingAndMistypedTopLevelFields() {
        assertLoadError(crc32Process, field: "library", "missing; name the shared library by soname or path")
        assertLoadError("library = \"libz.so.1\"\n", field: "process", "missing; add a [process] table")
        assertLoadError("libary = \"libz.so.1\"\n" + crc32Process, field: "libary", "unknown field (did you mean 'library'?)")
        assertLoadError("library = \"libz.so.1\"\nthread_safe = \"yes\"\n" + crc32Process, field: "thread_safe", "expected true or false, got a string")
        assertLoadError("library = \"libz.so.1\"\n[process]\nreturns = \"int\"\n", field: "process.function", "missing; name the C function to call")
    }

    func testTOMLSyntaxErrorNamesTheLine() {
        let message = loadError("library = \"libz.so.1\"\n[process\nfunction = \"crc32\"\n")
        XCTAssertTrue(message.hasPrefix("\(directory)/decl.toml:2:"), message)
        XCTAssertTrue(message.contains("not valid TOML"), message)
    }

    func testInitFailureRefusesTheStageWithTheLibrarysMessage() throws {
        // magic_load() of a database that does not exist returns -1.
        let text = """
            library = "libmagic.so.1"
            [[init]]
            function = "magic_open"
            returns = "handle"
            args = [{ type = "int", from = "const", value = 0x210 }]
            [[init]]
            function = "magic_load"
            returns = "int"
            args = [{ type = "handle", from = "handle" }, { type = "string", from = "const", value = "/nonexistent/magic.mgc" }]
            fails_if = -1
            [process]
            function = "magic_file"
            returns = "string"
            args = [{ type = "handle", from = "handle" }, { type = "string", from = "path" }]
            output = { from = "return" }
            [cleanup]
            function = "magic_close"
            """
        let processor = try DeclaredProcessor(path: write("badmagic.toml", text))
        XCTAssertThrowsError(try processor.start(config: StageConfig(label: "badmagic", values: [:]))) { error in
            let message = (error as? BatchCoreError)?.message ?? "\(error)"
            XCTAssertTrue(message.hasPrefix("stage 'badmagic': declared processor 'badmagic' ("), message)
            XCTAssertTrue(message.hasSuffix("could not start: init[1]: magic_load() returned -1, its declared error value"), message)
        }
    }

    // MARK: Engine lookup

    func testEngineFindsDeclarationsByNameAndPathAndListsThem() throws {
        let engine = Engine()
        try engine.set("plugin_dir", Self.plugins)
        XCTAssertEqual(try engine.processor(named: "crc32").info.kind, .declared)
        XCTAssertEqual(try engine.processor(named: Self.plugins + "/filetype.toml").info.name, "filetype")
        let listed = engine.listProcessors().compactMap { try? $0.get() }.filter { $0.kind == .declared }
        XCTAssertEqual(Set(listed.map(\.name)), ["crc32", "filetype"])

        // A `name` field other than the file name is found by that name too.
        write("some-file.toml", "name = \"renamed\"\nlibrary = \"libz.so.1\"\n" + crc32Process)
        try engine.set("plugin_dir", directory)
        XCTAssertEqual(try engine.processor(named: "renamed").info.path, directory + "/some-file.toml")
        XCTAssertEqual(StageSpec.defaultLabel(for: "plugins/crc32.toml"), "crc32")
        // U+0600 joins the "." after it into one Character; the suffix is still ".toml".
        XCTAssertEqual(StageSpec.defaultLabel(for: "plugins/x\u{600}.toml"), "x\u{600}")
        XCTAssertEqual(StageSpec.defaultLabel(for: "p/\u{301}y.so"), "\u{301}y")
        XCTAssertEqual(DeclarationParser.defaultName(for: "p/\u{301}z\u{600}.toml"), "\u{301}z\u{600}")

        // Stage options are refused: a declaration has none.
        XCTAssertThrowsError(try StageConfig(label: "crc32", values: ["level": "9"]).validate(against: engine.processor(named: "crc32").info))
    }

    // MARK: Per-thread handles

    func testHandlePoolGivesEachThreadItsOwnHandleAndDestroysAll() throws {
        let created = Locked(0)
        let destroyed = Locked<[Int]>([])
        let pool = HandlePool(
            create: { UnsafeMutableRawPointer(bitPattern: created.withLock { $0 += 1; return $0 })! },
            destroy: { handle in destroyed.withLock { $0.append(Int(bitPattern: handle)) } })
        try pool.prepareSpare()
        XCTAssertEqual(pool.count, 1)

        let threads = 6
        let seen = Locked<[Int: Set<Int>]>([:])  // thread number -> handles it got
        let done = Locked(0)
        let arrived = Locked(0)
        for t in 0..<threads {
            startThread(name: "pool-\(t)") {
                // All threads live at once, so none can inherit the pthread_t
                // (and with it the handle) of one that already ended.
                _ = try! pool.handleForCurrentThread()
                arrived.withLock { $0 += 1 }
                while arrived.withLock({ $0 }) < threads { usleep(500) }
                for _ in 0..<50 {
                    let handle = try! pool.handleForCurrentThread()
                    _ = seen.withLock { $0[t, default: []].insert(Int(bitPattern: handle)) }
                }
                done.withLock { $0 += 1 }
            }
        }
        while done.withLock({ $0 }) < threads { usleep(1000) }

        let handlesByThread = seen.withLock { $0 }
        XCTAssertEqual(handlesByThread.count, threads)
        for (thread, handles) in handlesByThread {
            XCTAssertEqual(handles.count, 1, "thread \(thread) got several handles: \(handles)")
        }
        let all = handlesByThread.values.map { $0.first! }
        XCTAssertEqual(Set(all).count, threads, "two threads shared a handle")
        // The spare made at start was adopted rather than wasted.
        XCTAssertEqual(created.withLock { $0 }, threads)
        XCTAssertTrue(all.contains(1))

        pool.destroyAll()
        XCTAssertEqual(destroyed.withLock { $0 }.sorted(), Array(1...threads))
        XCTAssertEqual(pool.count, 0)
    }

    func testHandlePoolRetriesAFailedCreateOnTheNextCall() throws {
        let attempts = Locked(0)
        let pool = HandlePool(
            create: {
                if attempts.withLock({ $0 += 1; return $0 }) == 1 { throw DeclaredProcessor.InitFailure(message: "not yet") }
                return UnsafeMutableRawPointer(bitPattern: 0x10)!
            },
            destroy: { _ in })
        XCTAssertThrowsError(try pool.handleForCurrentThread())
        XCTAssertEqual(try pool.handleForCurrentThread(), UnsafeMutableRawPointer(bitPattern: 0x10))
        pool.destroyAll()
    }
}

private extension String {
    func replacingFirst(_ target: String, _ replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }
}
