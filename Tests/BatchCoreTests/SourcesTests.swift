import Glibc
import XCTest
@testable import BatchCore

final class SourcesTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/batchcore-sources-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        XCTAssertNotNil(made, "mkdtemp: \(String(cString: strerror(errno)))")
        dir = String(cString: made!)
    }

    override func tearDownWithError() throws {
        if !dir.isEmpty { removeTree(dir) }
    }

    // MARK: Helpers

    private func writeFile(_ relative: String, _ text: String) {
        let path = dir + "/" + relative
        var prefix = ""
        for part in relative.split(separator: "/").dropLast() {
            prefix += "/" + part
            mkdir(dir + prefix, 0o755)
        }
        let file = fopen(path, "w")!
        let bytes = Array(text.utf8)
        XCTAssertEqual(fwrite(bytes, 1, bytes.count, file), bytes.count)
        fclose(file)
    }

    private func mkdirs(_ relative: String) {
        var prefix = ""
        for part in relative.split(separator: "/") {
            prefix += "/" + part
            mkdir(dir + prefix, 0o755)
        }
    }

    private func all(_ source: any DocumentSource) throws -> [Document] {
        let iterator = try source.makeIterator()
        var docs: [Document] = []
        while let doc = try iterator.next() { docs.append(doc) }
        return docs
    }

    private func relativeIds(_ source: DirectorySource) throws -> [String] {
        try all(source).map { doc in
            XCTAssertEqual(doc.id, doc.path)
            XCTAssertEqual(doc.metadata, "{}")
            return String(doc.id.dropFirst(dir.count + 1))
        }
    }

    /// Asserts that `body` throws a BatchCoreError with `code` whose message
    /// contains every string in `parts`; returns the message.
    @discardableResult
    private func assertError(_ code: BatchCoreError.Code, _ parts: [String],
                             file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Void) -> String {
        do {
            try body()
            XCTFail("expected an error containing \(parts)", file: file, line: line)
        } catch let error as BatchCoreError {
            XCTAssertEqual(error.code, code, error.message, file: file, line: line)
            for part in parts {
                XCTAssertTrue(error.message.contains(part), "'\(error.message)' lacks '\(part)'", file: file, line: line)
            }
            return error.message
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        return ""
    }

    /// Validates a manifest holding `text` and returns the error message.
    @discardableResult
    private func manifestError(_ name: String, _ text: String, _ parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) -> String {
        writeFile(name, text)
        return assertError(.input, [dir + "/" + name] + parts, file: file, line: line) {
            _ = try ManifestSource(path: dir + "/" + name)
        }
    }

    // MARK: DirectorySource

    private func makeTree() {
        writeFile("b.txt", "b")
        writeFile("B.txt", "B")
        writeFile(".hidden", "h")
        writeFile("a/z.txt", "z")
        writeFile("a/b/c.txt", "c")
        writeFile("a/.x/y.txt", "y")
        writeFile("a/b/d.pdf", "d")
        mkdirs("empty/deeper")
        symlink("b.txt", dir + "/link.txt")       // to a file: listed
        symlink("a", dir + "/dirlink")            // to a directory: not followed
        symlink("nowhere", dir + "/dangling")     // dangling: listed, fails later
        mkfifo(dir + "/fifo", 0o644)              // not a regular file: skipped
    }

    func testDirectoryListsRecursivelyInByteOrder() throws {
        makeTree()
        let expected = [".hidden", "B.txt", "a/.x/y.txt", "a/b/c.txt", "a/b/d.pdf", "a/z.txt",
                        "b.txt", "dangling", "link.txt"]
        let source = try DirectorySource(root: dir, glob: nil)
        XCTAssertEqual(source.knownCount, expected.count)
        XCTAssertEqual(try relativeIds(source), expected)
        // A second iterator gives the same order.
        XCTAssertEqual(try relativeIds(source), expected)
    }

    func testDirectoryGlobOnNames() throws {
        makeTree()
        let txt = try DirectorySource(root: dir, glob: "*.txt")
        XCTAssertEqual(try relativeIds(txt), ["B.txt", "a/.x/y.txt", "a/b/c.txt", "a/z.txt", "b.txt", "link.txt"])
        XCTAssertEqual(txt.knownCount, 6)
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: "[cd].*")), ["a/b/c.txt", "a/b/d.pdf"])
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: ".*")), [".hidden"])
        let none = try DirectorySource(root: dir, glob: "*.docx")
        XCTAssertEqual(none.knownCount, 0)
        XCTAssertEqual(try relativeIds(none), [])
    }

    func testDirectoryGlobOnRelativePaths() throws {
        makeTree()
        // '*' matches '/' (FNM_PATHNAME off).
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: "a/*.txt")),
                       ["a/.x/y.txt", "a/b/c.txt", "a/z.txt"])
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: "a/b/*")), ["a/b/c.txt", "a/b/d.pdf"])
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: "*/*.pdf")), ["a/b/d.pdf"])
        // "**/" also matches at the top level.
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: "**/*.pdf")), ["a/b/d.pdf"])
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: "**/b.txt")), ["b.txt"])
        XCTAssertEqual(try relativeIds(DirectorySource(root: dir, glob: "./a/z.txt")), ["a/z.txt"])
    }

    func testDirectoryIdsJoinRootWithoutDoubleSlash() throws {
        writeFile("sub/x/one.txt", "1")
        for root in [dir + "/sub", dir + "/sub/", dir + "/sub//"] {
            let docs = try all(DirectorySource(root: root, glob: nil))
            XCTAssertEqual(docs.map(\.id), [dir + "/sub/x/one.txt"], "root \(root)")
            XCTAssertEqual(docs.map(\.path), [dir + "/sub/x/one.txt"])
        }
        // A relative root stays relative.
        let saved = getcwd(nil, 0)!
        defer { chdir(saved); free(saved) }
        chdir(dir)
        XCTAssertEqual(try all(DirectorySource(root: "sub/", glob: nil)).map(\.id), ["sub/x/one.txt"])
        XCTAssertEqual(try all(DirectorySource(root: "sub", glob: nil)).map(\.id), ["sub/x/one.txt"])
    }

    func testDirectoryErrors() throws {
        let missing = dir + "/no/such/dir"
        assertError(.notFound, ["'\(missing)'", "does not exist"]) {
            _ = try DirectorySource(root: missing, glob: nil)
        }
        writeFile("file.txt", "x")
        assertError(.input, ["'\(dir)/file.txt'", "not a directory"]) {
            _ = try DirectorySource(root: dir + "/file.txt", glob: nil)
        }
        assertError(.invalidArgument, ["glob"]) {
            _ = try DirectorySource(root: dir, glob: "")
        }
        // The root vanishing after creation fails the iterator.
        mkdirs("gone")
        let source = try DirectorySource(root: dir + "/gone", glob: nil)
        rmdir(dir + "/gone")
        assertError(.notFound, ["gone"]) { _ = try source.makeIterator() }
    }

    func testDirectoryUnreadableSubdirectory() throws {
        writeFile("locked/secret.txt", "s")
        chmod(dir + "/locked", 0)
        defer { chmod(dir + "/locked", 0o755) }
        if geteuid() == 0 {
            // Root reads any directory: act as "nobody" for this check.
            chmod(dir, 0o755)
            guard seteuid(65534) == 0 else { throw XCTSkip("cannot drop privileges to test permissions") }
        }
        defer { if getuid() == 0 { seteuid(0) } }
        assertError(.input, ["\(dir)/locked", "cannot read directory"]) {
            _ = try DirectorySource(root: dir, glob: nil)
        }
    }

    // MARK: FileSource

    func testFileSource() throws {
        let plain = try FileSource(path: "missing/at/add/time.pdf")
        XCTAssertEqual(plain.knownCount, 1)
        XCTAssertEqual(try all(plain), [Document(id: "missing/at/add/time.pdf", path: "missing/at/add/time.pdf")])

        let named = try FileSource(path: "a.pdf", id: "doc-1", metadata: " { \"lang\" : \"en\", \"n\": [1, 2.5e3] } ")
        XCTAssertEqual(try all(named), [Document(id: "doc-1", path: "a.pdf", metadata: #"{"lang":"en","n":[1,2.5e3]}"#)])

        assertError(.input, ["metadata", "doc-2", "JSON object", "an array"]) {
            _ = try FileSource(path: "a.pdf", id: "doc-2", metadata: "[1]")
        }
        assertError(.input, ["metadata", "a.pdf", "not valid JSON"]) {
            _ = try FileSource(path: "a.pdf", metadata: "{\"a\": }")
        }
        assertError(.invalidArgument, ["empty"]) { _ = try FileSource(path: "") }
    }

    // MARK: ManifestSource

    func testManifestJSONLines() throws {
        writeFile("docs/m.jsonl", """
            {"path": "a.pdf", "metadata": {"lang": "en", "tags": ["x", "y"], "n": 1.50, "s": "é\\u00e9\\n"}}

            {"id": "no-file", "metadata": { }, "extra": {"ignored": [true, false, null]}}\r
              {"path": "/dev/null", "id": "b"}
            {"path": "sub/c.pdf", "id": "c", "metadata": {}}
            """)
        writeFile("docs/a.pdf", "a")
        writeFile("docs/sub/c.pdf", "c")
        let source = try ManifestSource(path: dir + "/docs/m.jsonl")
        XCTAssertEqual(source.knownCount, 4)
        XCTAssertEqual(try all(source), [
            Document(id: "a.pdf", path: dir + "/docs/a.pdf",
                     metadata: #"{"lang":"en","tags":["x","y"],"n":1.50,"s":"é\u00e9\n"}"#),
            Document(id: "no-file", path: nil, metadata: "{}"),
            Document(id: "b", path: "/dev/null", metadata: "{}"),
            Document(id: "c", path: dir + "/docs/sub/c.pdf", metadata: "{}"),
        ])
    }

    func testManifestJSONArray() throws {
        writeFile("list.json", """
            [
              {"path": "one.txt", "metadata": {"k": {"deep": [1, {"x": null}]}}},
              {"path": "two.txt", "id": "second"}
            ]
            """)
        writeFile("one.txt", "1")
        writeFile("two.txt", "2")
        let source = try ManifestSource(path: dir + "/list.json")
        XCTAssertEqual(source.knownCount, 2)
        XCTAssertEqual(try all(source), [
            Document(id: "one.txt", path: dir + "/one.txt", metadata: #"{"k":{"deep":[1,{"x":null}]}}"#),
            Document(id: "second", path: dir + "/two.txt", metadata: "{}"),
        ])
        writeFile("empty.json", " [ ] ")
        XCTAssertEqual(try ManifestSource(path: dir + "/empty.json").knownCount, 0)
    }

    func testManifestFormatSniffedForOtherExtensions() throws {
        for name in ["a", "b", "c"] { writeFile(name, name) }
        writeFile("array.manifest", "\n  [{\"path\": \"a\"}, {\"path\": \"b\"}]")
        XCTAssertEqual(try all(ManifestSource(path: dir + "/array.manifest")).map(\.id), ["a", "b"])
        writeFile("lines.txt", "{\"path\": \"a\"}\n{\"path\": \"b\"}\n{\"path\": \"c\"}\n")
        XCTAssertEqual(try all(ManifestSource(path: dir + "/lines.txt")).map(\.id), ["a", "b", "c"])
    }

    func testManifestRelativePathsResolveAgainstManifestDirectory() throws {
        writeFile("deep/er/m.jsonl", "{\"path\": \"x/y.txt\"}\n{\"path\": \"../z.txt\", \"id\": \"z\"}\n")
        writeFile("deep/er/x/y.txt", "y")
        writeFile("deep/z.txt", "z")
        let saved = getcwd(nil, 0)!
        defer { chdir(saved); free(saved) }
        chdir(dir)
        let docs = try all(ManifestSource(path: "deep/er/m.jsonl"))
        XCTAssertEqual(docs.map(\.path), ["deep/er/x/y.txt", "deep/er/../z.txt"])
        XCTAssertEqual(docs.map(\.id), ["x/y.txt", "z"])  // ids are the paths as written
        chdir(dir + "/deep/er")
        XCTAssertEqual(try all(ManifestSource(path: "m.jsonl")).map(\.path), ["x/y.txt", "../z.txt"])
    }

    func testManifestLineErrors() {
        manifestError("bad.jsonl", "{\"path\": \"a\"}\n{\"path\": \"b\",}\n", ["bad.jsonl:2:", "invalid JSON", "column 14"])
        manifestError("trail.jsonl", "{\"path\": \"a\"} {\"path\": \"b\"}\n", ["trail.jsonl:1:", "unexpected text after the object"])
        manifestError("array.jsonl", "{\"path\": \"a\"}\n\n[{\"path\": \"b\"}]\n", ["array.jsonl:3:", "not a JSON object", "an array"])
        manifestError("word.jsonl", "{\"path\": \"a\"}\nhello\n", ["word.jsonl:2:", "invalid JSON"])
        manifestError("num.jsonl", "{\"path\": 5}\n", ["num.jsonl:1:", "\"path\" must be a string", "a number"])
        manifestError("idnum.jsonl", "{\"path\": \"a\", \"id\": null}\n", ["idnum.jsonl:1:", "\"id\" must be a string", "null"])
        manifestError("none.jsonl", "{\"path\": \"a\"}\n{\"metadata\": {}}\n", ["none.jsonl:2:", "missing \"path\""])
        manifestError("meta.jsonl", "{\"path\": \"a\", \"metadata\": \"en\"}\n", ["meta.jsonl:1:", "\"metadata\" must be a JSON object", "a string"])
        manifestError("meta2.jsonl", "{\"path\": \"a\", \"metadata\": [1]}\n", ["meta2.jsonl:1:", "\"metadata\" must be a JSON object", "an array"])
        manifestError("empty.jsonl", "{\"path\": \"\"}\n", ["empty.jsonl:1:", "\"path\" is empty"])
        manifestError("twice.jsonl", "{\"path\": \"a\", \"path\": \"b\"}\n", ["twice.jsonl:1:", "appears twice"])
    }

    func testManifestInvalidUTF8IsRejected() {
        let name = "bytes.jsonl"
        let file = fopen(dir + "/" + name, "w")!
        let bytes: [UInt8] = Array("{\"path\": \"a\"}\n{\"path\": \"".utf8) + [0xC3, 0x28] + Array("\"}\n".utf8)
        fwrite(bytes, 1, bytes.count, file)
        fclose(file)
        assertError(.input, ["\(name):2:", "UTF-8"]) { _ = try ManifestSource(path: dir + "/" + name) }
    }

    func testManifestDuplicateIds() {
        let message = manifestError("dup.jsonl", """
            {"path": "a", "id": "x"}
            {"path": "b"}

            {"path": "c", "id": "x"}
            """, ["dup.jsonl:4:", "duplicate id \"x\"", "line 1"])
        XCTAssertFalse(message.contains("taken from"))
        // Ids taken from "path" collide too.
        manifestError("dup2.jsonl", "{\"path\": \"a\"}\n{\"path\": \"b\"}\n{\"id\": \"a\"}\n",
                      ["dup2.jsonl:3:", "duplicate id \"a\"", "line 1"])
        manifestError("dup3.jsonl", "{\"path\": \"a\"}\n{\"path\": \"a\"}\n",
                      ["dup3.jsonl:2:", "duplicate id \"a\"", "taken from \"path\"", "line 1"])
        // Escaped and literal spellings of one id are the same id.
        manifestError("dup4.jsonl", "{\"id\": \"caf\\u00e9\"}\n{\"id\": \"café\"}\n", ["dup4.jsonl:2:", "line 1"])
    }

    func testManifestArrayErrors() {
        manifestError("bad.json", "[\n  {\"path\": \"a\"},\n  {\"path\": 3}\n]", ["bad.json:3:", "element 2", "\"path\" must be a string"])
        manifestError("none.json", "[{\"path\": \"a\"},\n {\"path\": \"b\"},\n\n {\"metadata\": {}}]", ["none.json:4:", "element 3", "missing \"path\""])
        manifestError("scalar.json", "[{\"path\": \"a\"}, 7]", ["scalar.json:1:", "element 2", "not a JSON object"])
        manifestError("syntax.json", "[\n{\"path\": \"a\"}\n{\"path\": \"b\"}]", ["syntax.json:3:", "expected ',' or ']' after element 1"])
        manifestError("comma.json", "[{\"path\": \"a\"},\n]", ["comma.json:2:", "trailing comma"])
        manifestError("object.json", "{\"path\": \"a\"}\n", ["object.json:1:", "expected a JSON array", ".jsonl"])
        manifestError("empty.json", "  \n", ["empty.json:", "empty"])
        manifestError("open.json", "[{\"path\": \"a\"}", ["open.json:1:", "unexpected end"])
        manifestError("after.json", "[]\n[]", ["after.json:2:", "after the closing ']'"])
        manifestError("dup.json", "[\n{\"id\": \"k\"},\n{\"id\": \"j\"},\n{\"id\": \"k\"}\n]",
                      ["dup.json:4:", "element 3", "duplicate id \"k\"", "element 1 on line 2"])
    }

    func testManifestMissingFile() {
        assertError(.notFound, ["\(dir)/nope.jsonl", "does not exist"]) {
            _ = try ManifestSource(path: dir + "/nope.jsonl")
        }
        mkdirs("adir.jsonl")
        assertError(.input, ["adir.jsonl", "is a directory"]) {
            _ = try ManifestSource(path: dir + "/adir.jsonl")
        }
    }

    func testLargeManifestIterates() throws {
        let count = 100_000
        let path = dir + "/big.jsonl"
        let file = fopen(path, "w")!
        for i in 0..<count {
            fputs("{\"id\": \"files/\(i).txt\", \"path\": \"the.txt\", \"metadata\": {\"n\": \(i)}}\n", file)
        }
        fclose(file)
        writeFile("the.txt", "t")
        let source = try ManifestSource(path: path)
        XCTAssertEqual(source.knownCount, count)
        let iterator = try source.makeIterator()
        var seen = 0
        while let doc = try iterator.next() {
            if seen == 0 || seen == count - 1 {
                XCTAssertEqual(doc, Document(id: "files/\(seen).txt", path: dir + "/the.txt", metadata: "{\"n\":\(seen)}"))
            }
            seen += 1
        }
        XCTAssertEqual(seen, count)
    }

    func testManifestWithMissingFilesIsRefusedListingTheFirstFew() {
        writeFile("here.txt", "x")
        let entries = ["{\"path\": \"here.txt\"}"] + (0..<7).map { "{\"path\": \"gone-\($0).txt\"}" }
        writeFile("m.jsonl", entries.joined(separator: "\n") + "\n")
        let message = assertError(.notFound, ["m.jsonl: 7 of 8 files do not exist", "m.jsonl:2: \"gone-0.txt\"",
                                              "m.jsonl:6: \"gone-4.txt\", and 2 more", "'\(dir)/'"]) {
            _ = try ManifestSource(path: dir + "/m.jsonl")
        }
        XCTAssertFalse(message.contains("gone-5"), message)
        // A syntax error anywhere wins over missing files.
        writeFile("bad.jsonl", "{\"path\": \"gone.txt\"}\n{\"path\": 1}\n")
        assertError(.input, ["bad.jsonl:2:", "must be a string"]) { _ = try ManifestSource(path: dir + "/bad.jsonl") }
    }

    func testManifestAbsolutePathIsTheFirstByte() {
        // "/" and a combining mark are one Character, but the path is absolute.
        XCTAssertEqual(ManifestSource.resolve(Array("/\u{301}abc".utf8), against: "base/"), "/\u{301}abc")
        XCTAssertEqual(ManifestSource.resolve(Array("\u{301}abc".utf8), against: "base/"), "base/\u{301}abc")
    }

    func testManifestIgnoredKeysAreNotDecoded() throws {
        writeFile("m.jsonl", "{\"id\": \"a\", \"\\ud800\": 1}\n{\"id\": \"b\", \"metadata\": {\"\\ud800\": 1}}\n")
        XCTAssertEqual(try all(ManifestSource(path: dir + "/m.jsonl")).map(\.id), ["a", "b"])
        // An escaped key is still the key it spells.
        writeFile("e.jsonl", "{\"\\u0069d\": \"c\"}\n")
        XCTAssertEqual(try all(ManifestSource(path: dir + "/e.jsonl")).map(\.id), ["c"])
        // In "id" and "path", only \udc80...\udcff (bytes of names that are not UTF-8) stand alone.
        manifestError("hi.jsonl", "{\"id\": \"\\ud800x\"}\n", ["hi.jsonl:1:", "unpaired UTF-16 surrogate"])
        manifestError("ascii.jsonl", "{\"id\": \"\\udc41\"}\n", ["ascii.jsonl:1:", "unpaired UTF-16 surrogate"])
    }

    // MARK: Names that are not UTF-8

    private func createBytes(_ name: [UInt8]) {
        let fd = (FileNameBytes.bytes(dir) + [UInt8(ascii: "/")] + name + [0]).withUnsafeBufferPointer {
            $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) }
        }
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
    }

    func testDirectoryKeepsNamesThatAreNotUTF8() throws {
        let names: [[UInt8]] = [Array("caf".utf8) + [0xE9] + Array(".txt".utf8),
                                Array("caf".utf8) + [0xE8] + Array(".txt".utf8),
                                Array("\u{EF80}.txt".utf8), [0xC3, 0x28], [0xFF],
                                // Canonically equivalent, yet two files: ids compare by bytes.
                                Array("\u{E9}.txt".utf8), Array("e\u{301}.txt".utf8), Array("\u{FA69}".utf8), Array("\u{97FF}".utf8)]
        for name in names { createBytes(name) }
        let docs = try all(DirectorySource(root: dir))
        XCTAssertEqual(Set(docs.map { Array($0.id.utf8) }).count, names.count)
        XCTAssertEqual(Set(docs.map { FileNameBytes.bytes($0.path!) }),
                       Set(names.map { FileNameBytes.bytes(dir) + [UInt8(ascii: "/")] + $0 }))
        for doc in docs {
            let fd = FileNameBytes.withCString(doc.path!) { open($0, O_RDONLY) }
            XCTAssertGreaterThanOrEqual(fd, 0, "cannot open \(doc.path!)")
            close(fd)
        }
    }

    func testFileNameBytesRoundTripAndStayDistinct() {
        var generator = SystemRandomNumberGenerator()
        var samples: [[UInt8]] = [Array("plain é ü 😀".utf8), Array("\u{EF80}\u{EFFF}".utf8), [0xEE, 0xBE], [0xED, 0xA0, 0x80]]
        for _ in 0..<2000 {
            samples.append((0..<Int.random(in: 1...12, using: &generator)).map { _ in
                [0x41, 0x80, 0xBE, 0xBF, 0xC3, 0xA9, 0xE9, 0xEE, 0xEF, 0xF0, 0x9F, 0xFF].randomElement(using: &generator)!
            })
        }
        // Keyed by the String's own bytes: String equality is canonical
        // equivalence, under which U+FA69 and U+97FF are one character.
        var seen: [[UInt8]: [UInt8]] = [:]
        for bytes in samples {
            let name = FileNameBytes.string(bytes)
            XCTAssertEqual(FileNameBytes.bytes(name), bytes)
            if let other = seen[Array(name.utf8)] { XCTAssertEqual(other, bytes, "two names share \(name.debugDescription)") }
            seen[Array(name.utf8)] = bytes
        }
        XCTAssertEqual(FileNameBytes.string(Array("plain é".utf8)), "plain é")
        var json: [UInt8] = []
        appendJSONFileName(FileNameBytes.string(Array("caf".utf8) + [0xE9] + Array("\"".utf8)), to: &json)
        XCTAssertEqual(String(decoding: json, as: UTF8.self), #""caf\udce9\"""#)
    }

    func testManifestSurrogateEscapesNameTheBytes() throws {
        let name = Array("caf".utf8) + [0xE9] + Array(".txt".utf8)
        createBytes(name)
        writeFile("m.jsonl", "{\"path\": \"caf\\udce9.txt\"}\n")
        let docs = try all(ManifestSource(path: dir + "/m.jsonl"))
        XCTAssertEqual(docs.map { FileNameBytes.bytes($0.path!) }, [FileNameBytes.bytes(dir) + [UInt8(ascii: "/")] + name])
        XCTAssertEqual(docs.map { FileNameBytes.bytes($0.id) }, [name])
    }

    // MARK: Ids across sources

    private func uniquenessError(_ sources: [DocumentSource]) -> String? {
        var reader = SourceReader(sources: sources)
        do {
            try reader.checkUniqueIds()
            return nil
        } catch {
            return (error as? BatchCoreError)?.message ?? "\(error)"
        }
    }

    func testDuplicateIdsAcrossSourcesAreRefusedNamingBothPlaces() throws {
        writeFile("a.txt", "a")
        writeFile("one.jsonl", "{\"id\": \"x\", \"path\": \"a.txt\"}\n")
        writeFile("two.jsonl", "{\"id\": \"y\", \"path\": \"a.txt\"}\n{\"id\": \"x\", \"path\": \"a.txt\"}\n")
        let twice = uniquenessError([try FileSource(path: dir + "/a.txt"), try FileSource(path: dir + "/a.txt")])
        XCTAssertEqual(twice?.hasPrefix("duplicate id \"\(dir)/a.txt\" in file \(dir)/a.txt, first in file \(dir)/a.txt;"), true, twice ?? "")
        let manifests = uniquenessError([try ManifestSource(path: dir + "/one.jsonl"), try ManifestSource(path: dir + "/two.jsonl")])
        XCTAssertTrue(manifests?.contains("in manifest \(dir)/two.jsonl, line 2, first in manifest \(dir)/one.jsonl, line 1") ?? false,
                      manifests ?? "")
        let mixed = uniquenessError([try DirectorySource(root: dir, glob: "*.txt"), try FileSource(path: dir + "/a.txt")])
        XCTAssertTrue(mixed?.contains("first in directory \(dir) (glob *.txt)") ?? false, mixed ?? "")
        XCTAssertNil(uniquenessError([try ManifestSource(path: dir + "/two.jsonl"), try FileSource(path: dir + "/a.txt")]))
    }

    func testStreamDuplicatesAreReportedAsTheyCome() throws {
        writeFile("one.jsonl", "{\"id\": \"x\", \"path\": \"/dev/null\"}\n")
        var reader = SourceReader(sources: [StreamSource(ids: ["a", "x", "b", "a"]), try ManifestSource(path: dir + "/one.jsonl")])
        try reader.checkUniqueIds()
        var seen: [String] = []
        loop: while true {
            switch reader.next() {
            case .document(let doc): seen.append(doc.id)
            case .duplicate(let doc, let first): seen.append("dup \(doc.id) (\(first))")
            case .sourceError(let error): XCTFail(error.message); break loop
            case .end: break loop
            }
        }
        XCTAssertEqual(seen, ["a", "dup x (manifest \(dir)/one.jsonl, line 1)", "b", "dup a (stream)", "x"])
    }

    // MARK: ListSource

    func testListFile() throws {
        writeFile("list.txt", "a.pdf\r\n\r\n  \nsub dir/b.pdf\n\n/abs/c.pdf\r\n d.pdf \nlast")
        let source = try ListSource(path: dir + "/list.txt")
        XCTAssertEqual(source.knownCount, 5)
        XCTAssertEqual(try all(source).map(\.id), ["a.pdf", "sub dir/b.pdf", "/abs/c.pdf", " d.pdf ", "last"])
        XCTAssertEqual(try all(source).map(\.path), ["a.pdf", "sub dir/b.pdf", "/abs/c.pdf", " d.pdf ", "last"])

        assertError(.notFound, ["\(dir)/missing.txt"]) { _ = try ListSource(path: dir + "/missing.txt") }
        writeFile("nul.txt", "a\nb\0c\n")
        assertError(.input, ["nul.txt:2:", "NUL"]) { _ = try ListSource(path: dir + "/nul.txt") }
    }

    func testListFromStandardInput() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let text = Array("x.txt\r\n\ny.txt\n".utf8)
        XCTAssertEqual(write(fds[1], text, text.count), text.count)
        close(fds[1])
        let savedStdin = dup(0)
        dup2(fds[0], 0)
        close(fds[0])
        defer {
            dup2(savedStdin, 0)
            close(savedStdin)
        }
        let source = try ListSource(path: "-")
        XCTAssertNil(source.knownCount)
        XCTAssertEqual(try all(source).map(\.id), ["x.txt", "y.txt"])
        assertError(.state, ["standard input"]) { _ = try source.makeIterator() }
        // Standard input itself stays open.
        XCTAssertNotEqual(fcntl(0, F_GETFD), -1)
    }
}

/// rm -rf, without following links.
private func removeTree(_ path: String) {
    var st = stat()
    guard FileNameBytes.withCString(path, { lstat($0, &st) }) == 0 else { return }
    if st.st_mode & S_IFMT == S_IFDIR {
        _ = FileNameBytes.withCString(path) { chmod($0, 0o755) }
        if let d = FileNameBytes.withCString(path, { opendir($0) }) {
            var names: [String] = []
            while let ent = readdir(d) {
                let name = withUnsafeBytes(of: ent.pointee.d_name) { FileNameBytes.string(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(d)
            for name in names { removeTree(path + "/" + name) }
        }
        _ = FileNameBytes.withCString(path) { rmdir($0) }
    } else {
        _ = FileNameBytes.withCString(path) { unlink($0) }
    }
}

/// Documents in memory, readable once (like standard input).
private struct StreamSource: DocumentSource {
    let ids: [String]
    var knownCount: Int? { nil }
    var identity: String { "stream" }
    func makeIterator() throws -> any DocumentIterator {
        ArraySource.Iterator(ids.map { Document(id: $0, path: nil) })
    }
}
