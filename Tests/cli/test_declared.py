"""Declared processors: C functions called through libffi from a TOML file.

The shipped plugins/crc32.toml (zlib) and plugins/filetype.toml (libmagic),
declaration errors as batchhost reports them, and a small C library of our
own (declared/tracker.c) that notices a handle shared between threads."""
import gzip
import os
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, read_jsonl, run

PLUGINS = ROOT / "plugins"
CRC32 = PLUGINS / "crc32.toml"
FILETYPE = PLUGINS / "filetype.toml"
TRACKER_SOURCE = Path(__file__).parent / "declared" / "tracker.c"


# ---- crc32 ----------------------------------------------------------------

def test_crc32_matches_python_zlib_over_samples(tmp_path):
    out = tmp_path / "out.jsonl"
    r = run("run", ROOT / "samples", "-p", CRC32, "-w", "4", "-o", out)
    assert r.code == 0, r
    records = read_jsonl(out)
    files = [p for p in (ROOT / "samples").rglob("*") if p.is_file()]
    assert len(records) == len(files) > 30
    for rec in records:
        expected = f"{zlib.crc32(Path(rec['path']).read_bytes()):08x}"
        assert rec["status"] == "ok", rec
        assert rec["output"] == expected, rec["path"]


def test_crc32_matches_python_zlib_over_binary_files(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    sizes = [0, 1, 2, 15, 16, 17, 255, 4096, 65537, 1_000_003]
    for i, size in enumerate(sizes):
        (d / f"random-{i:02d}.bin").write_bytes(os.urandom(size))
    (d / "zeros.bin").write_bytes(bytes(100_000))
    (d / "ones.bin").write_bytes(b"\xff" * 77_777)
    (d / "leading-zero-crc.bin").write_bytes(b"\x00" * 3)  # crc32 < 0x10000000: must keep its zeros
    r = run("run", d, "-p", CRC32, "-w", "4")
    assert r.code == 0, r
    outputs = {Path(rec["path"]).name: rec["output"] for rec in r.records}
    assert len(outputs) == len(sizes) + 3
    for path in d.iterdir():
        assert outputs[path.name] == f"{zlib.crc32(path.read_bytes()):08x}", path.name
    assert all(len(value) == 8 for value in outputs.values())


def test_crc32_by_name_from_a_plugin_dir_and_listed_as_declared(docs):
    r = run("run", docs, "-p", "crc32", "--plugin-dir", PLUGINS)
    assert r.code == 0, r
    for rec in r.records:
        assert rec["output"] == f"{zlib.crc32(Path(rec['path']).read_bytes()):08x}"

    listing = run("plugins", "--plugin-dir", PLUGINS)
    assert listing.code == 0, listing
    lines = listing.out.splitlines()
    for name, description in [("crc32", "CRC-32 of each document"), ("filetype", "MIME type of each document")]:
        at = next(i for i, line in enumerate(lines) if line.startswith(name + " "))
        assert description in lines[at]
        assert lines[at + 1].strip() == f"{PLUGINS / name}.toml (declared)"


def test_crc32_of_a_missing_file_fails_that_document_only(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("fine\n")
    missing = tmp_path / "gone.txt"
    r = run("run", "-", "-p", CRC32, stdin=f"{good}\n{missing}\n")
    assert r.code == 1, r
    records = {rec["id"]: rec for rec in r.records}
    assert records[str(good)]["status"] == "ok"
    assert records[str(missing)]["status"] == "failed"
    assert records[str(missing)]["error"] == f"cannot read '{missing}': No such file or directory"
    assert records[str(missing)]["failed_stage"] == "crc32"


def test_declared_processor_takes_no_stage_options(docs):
    r = run("run", docs, "-p", CRC32, "--set", "level=9")
    assert r.code == 2, r
    assert "unknown 'crc32' option 'level'" in r.err


# ---- filetype (libmagic) --------------------------------------------------

def png_bytes():
    """A valid 1x1 RGB PNG: signature, IHDR, IDAT, IEND."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


MINIMAL_PDF = b"""%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj
trailer << /Root 1 0 R >>
%%EOF
"""


@pytest.fixture
def typed_files(tmp_path):
    """Ten each of text, PNG, PDF and gzip files, with the MIME type of each."""
    d = tmp_path / "typed"
    d.mkdir()
    expected = {}
    for i in range(10):
        samples = {
            f"note-{i}.txt": (f"A plain note, number {i}.\nSecond line.\n".encode(), "text/plain"),
            f"pixel-{i}.png": (png_bytes(), "image/png"),
            f"paper-{i}.pdf": (MINIMAL_PDF, "application/pdf"),
            f"archive-{i}.gz": (gzip.compress(f"compressed {i}\n".encode() * 50), "application/gzip"),
        }
        for name, (data, mime) in samples.items():
            (d / name).write_bytes(data)
            expected[name] = mime
    return d, expected


def test_filetype_names_text_png_pdf_and_gzip_with_four_workers(typed_files):
    d, expected = typed_files
    r = run("run", d, "-p", FILETYPE, "-w", "4")
    assert r.code == 0, r
    got = {Path(rec["path"]).name: rec["output"] for rec in r.records}
    assert got == expected
    assert "40 ok" in r.err


def test_filetype_fails_cleanly_on_a_missing_file_with_libmagics_message(typed_files, tmp_path):
    d, _ = typed_files
    missing = tmp_path / "no-such-dir" / "ghost.pdf"
    paths = [d / "note-1.txt", missing, d / "pixel-1.png"]
    r = run("run", "-", "-p", FILETYPE, "-w", "4", stdin="".join(f"{p}\n" for p in paths))
    assert r.code == 1, r
    records = {rec["id"]: rec for rec in r.records}
    assert len(records) == 3
    assert records[str(d / "note-1.txt")]["output"] == "text/plain"
    assert records[str(d / "pixel-1.png")]["output"] == "image/png"
    failed = records[str(missing)]
    assert failed["status"] == "failed" and failed["output"] is None
    # magic_file() returned NULL; the message is magic_error()'s, verbatim.
    assert failed["error"] == f"magic_file(): cannot stat `{missing}' (No such file or directory)"
    assert f"failed: {missing}: magic_file(): cannot stat" in r.err


# ---- a library of our own: per-worker handles, error values, buffers ------

@pytest.fixture
def tracker(tmp_path):
    """Builds declared/tracker.c into tmp_path; returns its directory."""
    lib = tmp_path / "lib"
    lib.mkdir()
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    str(TRACKER_SOURCE), "-o", str(lib / "libtracker.so"), "-lpthread"], check=True)
    return lib


def tracker_declaration(lib, log, thread_safe=False):
    # The library path is relative to the declaration file.
    return f"""
description = "test: which handle served each document"
library = "./libtracker.so"
thread_safe = {"true" if thread_safe else "false"}

[[init]]
function = "tracker_open"
returns = "handle"
args = [{{ type = "string", from = "const", value = "{log}" }}]

[process]
function = "tracker_process"
returns = "int"
args = [
    {{ type = "handle", from = "handle" }},
    {{ type = "string", from = "path" }},
    {{ type = "pointer", from = "buffer", capacity = 64 }},
    {{ type = "size_t", from = "capacity" }},
]
fails_if = -1
error_message = "tracker_error"
output = {{ from = "buffer" }}

[cleanup]
function = "tracker_close"
"""


def make_docs(tmp_path, count, name="doc"):
    d = tmp_path / "docs"
    d.mkdir(exist_ok=True)
    for i in range(count):
        (d / f"{name}-{i:03d}.txt").write_text(f"{i}\n")
    return d


def test_each_worker_gets_its_own_handle_and_every_handle_is_closed(tmp_path, tracker):
    log = tmp_path / "handles.log"
    decl = tracker / "tracker.toml"
    decl.write_text(tracker_declaration(tracker, log))
    docs = make_docs(tmp_path, 60)
    r = run("run", docs, "-p", decl, "-w", "4")
    # A handle used by two threads fails its document: none may fail.
    assert r.code == 0, r
    used = Counter(rec["output"] for rec in r.records)
    assert sum(used.values()) == 60
    assert 2 <= len(used) <= 4, used  # several workers, never more handles than workers

    events = log.read_text().split("\n")[:-1]
    opened = sorted(e.split()[1] for e in events if e.startswith("open"))
    closed = sorted(e.split()[1] for e in events if e.startswith("close"))
    assert opened == closed, events  # each handle closed exactly once
    assert sorted(h.split()[1] for h in used) == opened  # and each one opened was used


def test_sharing_one_handle_between_workers_is_what_thread_safe_false_prevents(tmp_path, tracker):
    # The same library declared thread_safe = true shares one handle, which
    # tracker_process() notices: this is what per-worker handles avoid.
    log = tmp_path / "handles.log"
    decl = tracker / "shared.toml"
    decl.write_text(tracker_declaration(tracker, log, thread_safe=True))
    r = run("run", make_docs(tmp_path, 20), "-p", decl, "-w", "4")
    assert r.code == 1, r
    errors = [rec["error"] for rec in r.records if rec["status"] == "failed"]
    assert errors and all(e.startswith("tracker_process(): handle 1 used by") for e in errors), errors
    assert log.read_text() == "open 1\nclose 1\n"


def test_thread_safe_library_shares_one_handle(tmp_path, tracker):
    log = tmp_path / "handles.log"
    decl = tracker / "number.toml"
    decl.write_text(f"""
library = "./libtracker.so"
thread_safe = true
[[init]]
function = "tracker_open"
returns = "handle"
args = [{{ type = "string", from = "const", value = "{log}" }}]
[process]
function = "tracker_number"
returns = "long"
args = [{{ type = "handle", from = "handle" }}]
output = {{ from = "return", format = "decimal" }}
[cleanup]
function = "tracker_close"
""")
    r = run("run", make_docs(tmp_path, 20), "-p", decl, "-w", "4")
    assert r.code == 0, r
    assert {rec["output"] for rec in r.records} == {"1"}
    assert log.read_text() == "open 1\nclose 1\n"


def test_error_value_fails_the_document_with_the_librarys_message(tmp_path, tracker):
    log = tmp_path / "handles.log"
    decl = tracker / "tracker.toml"
    decl.write_text(tracker_declaration(tracker, log))
    docs = make_docs(tmp_path, 6)
    for i in range(2):
        (docs / f"reject-{i}.txt").write_text("no\n")
    r = run("run", docs, "-p", decl, "-w", "2")
    assert r.code == 1, r
    records = {Path(rec["path"]).name: rec for rec in r.records}
    assert len(records) == 8
    for i in range(2):
        rec = records[f"reject-{i}.txt"]
        assert rec["status"] == "failed"
        assert rec["error"] == f"tracker_process(): tracker refuses '{docs / f'reject-{i}.txt'}': rejected by policy"
        assert rec["failed_stage"] == "tracker"
    assert sum(rec["status"] == "ok" for rec in records.values()) == 6
    assert "6 ok" in r.err and "2 failed" in r.err


def test_bytes_into_a_buffer_with_the_length_written(tmp_path, tracker):
    decl = tracker / "upper.toml"
    decl.write_text("""
library = "./libtracker.so"
thread_safe = true
[process]
function = "tracker_upper"
returns = "int"
args = [
    { type = "pointer", from = "bytes" },
    { type = "size_t", from = "length" },
    { type = "pointer", from = "buffer", capacity = 32 },
    { type = "size_t", from = "capacity" },
    { type = "pointer", from = "written" },
]
fails_if = -1
output = { from = "buffer", length = "written" }
""")
    d = tmp_path / "texts"
    d.mkdir()
    (d / "short.txt").write_bytes(b"abc\x00def")  # a NUL inside: the length, not a NUL, ends the output
    (d / "long.txt").write_text("x" * 33)
    r = run("run", d, "-p", decl)
    assert r.code == 1, r
    records = {Path(rec["path"]).name: rec for rec in r.records}
    assert records["short.txt"]["output"] == "ABC\u0000DEF"
    assert records["long.txt"]["error"] == "tracker_upper() returned -1, its declared error value"


# ---- declaration errors: each names the file and the field ----------------

GOOD_PROCESS = """
[process]
function = "crc32"
returns = "ulong"
args = [
    { type = "ulong", from = "const", value = 0 },
    { type = "pointer", from = "bytes" },
    { type = "uint", from = "length" },
]
output = { from = "return", format = "hex", width = 8 }
"""


@pytest.mark.parametrize("text, field, message", [
    ('library = "libnot-a-library.so.3"\n' + GOOD_PROCESS,
     "library", "cannot load 'libnot-a-library.so.3': libnot-a-library.so.3: cannot open shared object file"),
    ('library = "libz.so.1"\n' + GOOD_PROCESS.replace('"crc32"', '"crc_32"'),
     "process.function", "'crc_32' is not a function of libz.so.1"),
    ('library = "libz.so.1"\n' + GOOD_PROCESS.replace('"uint"', '"unsigned integer"'),
     "process.args[2].type", "unknown type 'unsigned integer'"),
    ('library = "libz.so.1"\n' + GOOD_PROCESS.replace('"bytes"', '"bytez"'),
     "process.args[1].from", "unknown source 'bytez' (did you mean 'bytes'?); expected one of bytes, length, path"),
    ('library = "libz.so.1"\n' + GOOD_PROCESS.replace('from = "bytes"', 'from = "handle"').replace('"pointer"', '"handle"'),
     "process.args[1].from", "source 'handle' needs a handle, but nothing creates one"),
    ('library = "libz.so.1"\n' + GOOD_PROCESS.replace('{ type = "uint", from = "length" }', '{ type = "uint", from = "capacity" }'),
     "process.args[2].from", "source 'capacity' describes the output buffer, but no argument has from = \"buffer\""),
    ('library = "libz.so.1"\n' + GOOD_PROCESS.replace('{ type = "uint", from = "length" }', '{ type = "string", from = "length" }'),
     "process.args[2].type", "source 'length' needs an integer type"),
])
def test_declaration_errors_name_file_and_field(tmp_path, docs, text, field, message):
    decl = tmp_path / "broken.toml"
    decl.write_text(text)
    r = run("run", docs, "-p", decl)
    assert r.code == 2, r
    assert r.records == []
    assert f"batchhost: error: {decl}: {field}: {message}" in r.err, r.err

    # `batchhost plugins` lists the file with the same error, and exits 1.
    listing = run("plugins", "--plugin-dir", tmp_path)
    assert listing.code == 1, listing
    assert f"batchhost: cannot use {decl}: {decl}: {field}: {message}" in listing.err


def test_missing_declaration_file_is_a_clear_error(tmp_path, docs):
    r = run("run", docs, "-p", tmp_path / "absent.toml")
    assert r.code == 2, r
    assert f"declaration file '{tmp_path / 'absent.toml'}' does not exist" in r.err


def test_unknown_name_lists_the_toml_file_name_looked_for(docs, tmp_path):
    r = run("run", docs, "-p", "nosuch", "--plugin-dir", tmp_path)
    assert r.code == 2, r
    assert "nosuch.so, libnosuch.so, libbatchcore-nosuch.so, nosuch.toml" in r.err
