"""Documents: one id, one document, the exact bytes of its name."""
import base64
import csv
import io
import json
import os
import subprocess

from conftest import BATCHHOST, read_jsonl, run


def run_bytes(*args, cwd=None, stdin=b""):
    """Runs batchhost with byte arguments and byte stdin (names that are not UTF-8)."""
    env = dict(os.environ)
    env.pop("BATCHCORE_PLUGIN_PATH", None)
    proc = subprocess.run([os.fsencode(BATCHHOST), *(a if isinstance(a, bytes) else os.fsencode(str(a)) for a in args)],
                          cwd=cwd, input=stdin, capture_output=True, env=env, timeout=120)
    return proc


def records(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def output_bytes(rec):
    """The output as bytes: text, or base64 for output that is not UTF-8."""
    if rec.get("output_encoding") == "base64":
        return base64.b64decode(rec["output"])
    return rec["output"].encode()


# -- Duplicate ids ------------------------------------------------------------

def test_the_same_file_twice_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    marker = tmp_path / "ran"
    r = run("run", "a.txt", "a.txt", "--", "sh", "-c", f"touch {marker}", cwd=tmp_path)
    assert r.code == 2, r
    assert 'duplicate id "a.txt" in file a.txt, first in file a.txt' in r.err, r
    assert r.out == "" and not marker.exists()


def test_two_manifests_sharing_an_id_are_refused_naming_both_lines(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "one.jsonl").write_text('{"id": "x", "path": "a.txt"}\n')
    (tmp_path / "two.jsonl").write_text('{"id": "y", "path": "a.txt"}\n\n{"id": "x", "path": "b.txt"}\n')
    out = tmp_path / "out.jsonl"
    r = run("run", "--manifest", tmp_path / "one.jsonl", "--manifest", tmp_path / "two.jsonl",
            "-o", out, "--", "cat", "{}")
    assert r.code == 2, r
    assert (f'duplicate id "x" in manifest {tmp_path}/two.jsonl, line 3, '
            f'first in manifest {tmp_path}/one.jsonl, line 1') in r.err, r
    assert not out.exists() or out.read_text() == ""


def test_a_directory_and_a_manifest_naming_the_same_id_are_refused(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("a\n")
    (tmp_path / "m.jsonl").write_text('{"id": "docs/a.txt", "path": "docs/a.txt"}\n')
    r = run("run", "docs", "--manifest", "m.jsonl", "--", "cat", "{}", cwd=tmp_path)
    assert r.code == 2, r
    assert 'duplicate id "docs/a.txt" in manifest m.jsonl, line 1, first in directory docs' in r.err, r


def test_a_list_file_repeating_a_path_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "list.txt").write_text("a.txt\n./a.txt\n\na.txt\n")
    r = run("run", "--list", "list.txt", "--", "cat", "{}", cwd=tmp_path)
    assert r.code == 2, r
    assert 'duplicate id "a.txt" in list list.txt, line 4, first in list list.txt, line 1' in r.err, r
    assert r.out == ""


def test_a_repeated_path_on_stdin_fails_the_repeat_and_keeps_the_first(tmp_path):
    for name in "ab":
        (tmp_path / f"{name}.txt").write_text(name + "\n")
    out = tmp_path / "out.jsonl"
    r = run("run", "-", "-o", out, "--", "cat", "{}", cwd=tmp_path, stdin="a.txt\nb.txt\n\na.txt\n")
    assert r.code == 1, r
    assert "failed: a.txt: duplicate id (first at paths from standard input, line 1)" in r.err, r
    # The output and the journal hold one result per id: the first one's.
    assert sorted((rec["id"], rec["status"], rec["output"]) for rec in read_jsonl(out)) == [
        ("a.txt", "ok", "a\n"), ("b.txt", "ok", "b\n")]
    exported = run("export", str(out) + ".journal")
    assert sorted(rec["id"] for rec in exported.records) == ["a.txt", "b.txt"]
    assert all(rec["status"] == "ok" for rec in exported.records)


def test_a_stdin_path_repeating_a_manifest_id_fails(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "m.jsonl").write_text('{"path": "a.txt"}\n')
    r = run("run", "-", "--manifest", "m.jsonl", "--", "cat", "{}", cwd=tmp_path, stdin="a.txt\n")
    assert r.code == 1, r
    assert "duplicate id (first at manifest m.jsonl, line 1)" in r.err, r
    assert [rec["id"] for rec in r.records] == ["a.txt"]


# -- Names that are not UTF-8 -------------------------------------------------

def make_latin1_folder(tmp_path):
    folder = os.fsencode(tmp_path / "docs")
    os.mkdir(folder)
    names = [b"caf\xe9.txt", b"caf\xe8.txt", b"ok.txt", "\uef80.txt".encode()]
    for name in names:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(name + b"\n")
    return folder, names


def test_names_that_are_not_utf8_keep_their_bytes_through_exec_and_plugins(tmp_path):
    folder, names = make_latin1_folder(tmp_path)
    for stage in (["--", "cat", "{}"], ["-p", "text"]):
        proc = run_bytes("run", folder, *stage)
        assert proc.returncode == 0, proc
        recs = records(proc.stdout)
        paths = {os.fsencode(rec["path"]) for rec in recs}
        assert paths == {os.path.join(folder, name) for name in names}
        assert len({rec["id"] for rec in recs}) == len(names)
        if stage[0] == "--":
            assert {os.fsencode(rec["path"]): output_bytes(rec) for rec in recs} == {
                os.path.join(folder, name): name + b"\n" for name in names}
    # JSON carries the raw bytes as \udcXX escapes, as Python's surrogateescape.
    assert b'caf\\udce9.txt' in proc.stdout and b'caf\\udce8.txt' in proc.stdout


def test_names_that_are_not_utf8_round_trip_through_stdin_argv_manifests_and_the_journal(tmp_path):
    folder, names = make_latin1_folder(tmp_path)
    wanted = {os.path.join(folder, name) for name in names}
    out = tmp_path / "out.jsonl"
    listing = b"".join(os.path.join(folder, name) + b"\n" for name in names)
    proc = run_bytes("run", "-", "-o", out, "--", "cat", "{}", stdin=listing)
    assert proc.returncode == 0, proc
    recs = read_jsonl(out)
    assert {os.fsencode(rec["id"]) for rec in recs} == wanted

    # A file named on the command line.
    proc = run_bytes("run", os.path.join(folder, b"caf\xe9.txt"), "--", "cat", "{}")
    assert proc.returncode == 0, proc
    assert output_bytes(records(proc.stdout)[0]) == b"caf\xe9.txt\n"

    # The output's ids, written back into a manifest, name the same files.
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"path": rec["path"]}) + "\n" for rec in recs))
    proc = run_bytes("run", "--manifest", manifest, "--", "cat", "{}")
    assert proc.returncode == 0, proc
    assert {os.fsencode(rec["path"]) for rec in records(proc.stdout)} == wanted

    # The journal's export writes the same escapes.
    exported = run_bytes("export", str(out) + ".journal")
    assert {os.fsencode(rec["id"]) for rec in records(exported.stdout)} == wanted


def test_canonically_equivalent_names_are_distinct_documents_through_a_resume(tmp_path):
    # Precomposed and decomposed "é", a compatibility ideograph and its
    # canonical twin: four files to the kernel, so four documents.
    folder = tmp_path / "docs"
    folder.mkdir()
    names = ["\u00e9.txt", "e\u0301.txt", "\ufa69.txt", "\u97ff.txt"]
    for name in names:
        (folder / name).write_text(name)
    out = tmp_path / "out.jsonl"
    first = run("run", folder, "-o", out, "--", "cat", "{}")
    assert first.code == 0, first
    again = run("run", folder, "-o", out, "--resume", "--", "cat", "{}")
    assert again.code == 0, again
    assert "4 already done" in again.err, again
    recs = read_jsonl(out)
    assert sorted(os.path.basename(rec["id"]) for rec in recs) == sorted(names)
    assert all(rec["output"] == os.path.basename(rec["id"]) for rec in recs)


# -- Characters where bytes are meant -----------------------------------------

def test_csv_export_quotes_fields_whatever_follows_the_special_byte(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    ids = ["x,\u0301y", "a\r\nb", "q\"\u0301", "plain"]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"id": i, "path": "a.txt"}) + "\n" for i in ids))
    out = tmp_path / "out.jsonl"
    r = run("run", "--manifest", tmp_path / "m.jsonl", "-o", out, "--", "cat", "{}")
    assert r.code == 0, r
    exported = tmp_path / "all.csv"
    r = run("export", str(out) + ".journal", "--format", "csv", "-o", exported)
    assert r.code == 0, r
    rows = list(csv.reader(io.StringIO(exported.read_bytes().decode(), newline="")))
    assert rows[0][0] == "id" and len(rows) == 1 + len(ids), rows
    assert sorted(row[0] for row in rows[1:]) == sorted(ids)


def test_an_ignored_key_with_a_lone_surrogate_does_not_reject_the_manifest(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "m.jsonl").write_text('{"id": "a", "\\ud800": 1, "path": "a.txt"}\n')
    r = run("run", "--manifest", tmp_path / "m.jsonl", "--", "cat", "{}")
    assert r.code == 0, r
    assert [rec["id"] for rec in r.records] == ["a"]


# -- exec ---------------------------------------------------------------------

def test_a_path_starting_with_a_dash_is_never_an_option(tmp_path):
    (tmp_path / "--output=PWN").write_text("b\na\n")
    (tmp_path / "-n").write_text("n\n")
    r = run("run", "-", "--", "sort", "{}", cwd=tmp_path, stdin="--output=PWN\n")
    assert r.code == 0, r
    assert r.records[0]["output"] == "a\nb\n"
    assert not (tmp_path / "PWN").exists()
    (tmp_path / "m.jsonl").write_text('{"path": "-n"}\n{"path": "$(touch pwned)", "id": "p"}\n')
    (tmp_path / "$(touch pwned)").write_text("p\n")
    r = run("run", "--manifest", "m.jsonl", "--", "cat", "{}", cwd=tmp_path)
    assert r.code == 0, r
    assert sorted(rec["output"] for rec in r.records) == ["n\n", "p\n"]
    assert not (tmp_path / "pwned").exists()


def test_a_command_without_placeholder_gets_the_path_appended(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    r = run("run", "a.txt", "--", "wc", "-l", cwd=tmp_path)
    assert r.code == 0, r
    assert r.records[0]["output"] == "2 a.txt\n"


def test_unknown_braces_reach_the_command_as_written(tmp_path):
    (tmp_path / "a.txt").write_text("alpha beta\ngamma delta\n")
    r = run("run", "a.txt", "--", "awk", "{print $2}", cwd=tmp_path)
    assert r.code == 0, r
    assert r.records[0]["output"] == "beta\ndelta\n"
    r = run("run", "a.txt", "--", "echo", "{{}}", "{nope}", "{id}", cwd=tmp_path)
    assert r.records[0]["output"] == "{} {nope} a.txt\n"


# -- Inputs -------------------------------------------------------------------

def test_list_file_gives_paths_like_stdin_and_allows_a_sample(tmp_path):
    for i in range(6):
        (tmp_path / f"{i}.txt").write_text(f"{i}\n")
    (tmp_path / "list.txt").write_text("".join(f"{i}.txt\n" for i in range(6)))
    r = run("run", "--list", "list.txt", "--sample", "2", "--", "cat", "{}", cwd=tmp_path)
    assert r.code == 0, r
    assert sorted(rec["id"] for rec in r.records) == ["2.txt", "5.txt"]


def test_a_glob_matching_nothing_warns(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    r = run("run", tmp_path, "--glob", "*.pdf", "--", "cat", "{}")
    assert r.code == 0, r
    assert f"batchhost: warning: no documents matched --glob '*.pdf' in directory '{tmp_path}'" in r.err, r


def test_manifest_with_missing_files_is_refused_before_the_run_listing_the_first(tmp_path):
    (tmp_path / "here.txt").write_text("x\n")
    lines = ['{"path": "here.txt"}'] + [json.dumps({"path": f"gone-{i}.txt"}) for i in range(7)]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    marker = tmp_path / "ran"
    r = run("run", "--manifest", "m.jsonl", "--", "sh", "-c", f"touch {marker}", cwd=tmp_path)
    assert r.code == 2, r
    assert "m.jsonl: 7 of 8 files do not exist: m.jsonl:2: \"gone-0.txt\"" in r.err, r
    assert 'm.jsonl:6: "gone-4.txt", and 2 more' in r.err and "gone-5" not in r.err, r
    assert not marker.exists()


# -- In-memory documents ------------------------------------------------------

def test_manifest_content_reaches_commands_on_stdin_and_as_a_temporary_file(tmp_path):
    blob = bytes([0, 1, 254, 255])
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"id": "mail", "content": "Héllo\n", "metadata": {"from": "ann"}}) + "\n"
        + json.dumps({"id": "blob", "content_base64": base64.b64encode(blob).decode()}) + "\n")
    r = run("run", "--manifest", "m.jsonl", "--", "cat", cwd=tmp_path)
    assert r.code == 0, r
    assert {rec["id"]: output_bytes(rec) for rec in r.records} == {"mail": "Héllo\n".encode(), "blob": blob}
    assert all(rec.get("path") is None for rec in r.records)

    # {} names a private temporary file, removed after the call.
    r = run("run", "--manifest", "m.jsonl", "--", "sh", "-c", 'cat "$1"; echo "$1" >> seen.txt', "sh", "{}",
            cwd=tmp_path)
    assert r.code == 0, r
    assert {rec["id"]: output_bytes(rec) for rec in r.records} == {"mail": "Héllo\n".encode(), "blob": blob}
    seen = (tmp_path / "seen.txt").read_text().split()
    assert len(seen) == 2 and not any(os.path.exists(path) for path in seen)


def test_bad_manifest_content_is_refused_naming_the_line(tmp_path):
    cases = {
        '{"content": "x"}': 'needs an "id"',
        '{"id": "a", "path": "a.txt", "content": "x"}': 'either "path" or the content',
        '{"id": "a", "content_base64": "*not base64*"}': "not valid base64",
        '{"id": "a", "content": 7}': '"content" must be a string',
        '{"id": "a", "content": "x", "content_base64": "eA=="}': "give the content twice",
    }
    (tmp_path / "a.txt").write_text("a")
    for line, message in cases.items():
        (tmp_path / "m.jsonl").write_text('{"id": "ok", "content": "fine"}\n' + line + "\n")
        r = run("run", "--manifest", "m.jsonl", "--", "cat", cwd=tmp_path)
        assert r.code != 0 and "m.jsonl:2:" in r.err and message in r.err, (line, r.err)
        assert r.err.startswith("batchhost:"), r.err


def test_manifest_content_over_the_size_limit_is_refused_before_the_run(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"id": "small", "content": "abc"}\n{"id": "big", "content": "abcdefgh"}\n')
    r = run("run", "--manifest", "m.jsonl", "-O", "content.max_size=4", "--", "cat", cwd=tmp_path)
    assert r.code != 0 and "m.jsonl:2: the content is 8 bytes" in r.err and "content.max_size" in r.err, r
    assert r.records == []
    r = run("run", "--manifest", "m.jsonl", "-O", "content.max_size=8", "--", "cat", cwd=tmp_path)
    assert r.code == 0 and len(r.records) == 2, r


# -- Set-up once per stage ----------------------------------------------------

def test_exec_prepare_runs_once_and_every_call_reads_its_output(tmp_path):
    for i in range(6):
        (tmp_path / f"cv-{i}.txt").write_text(f"cv {i}\n")
    prepare = "sh -c 'echo run >> prepared.log; echo ACME'"
    command = ["sh", "-c", 'printf "%s|%s|%s" "$(cat "$1")" "$(cat "$2")" "$(cat "$BATCHCORE_SHARED")"',
               "sh", "{}", "{shared}"]
    r = run("run", ".", "-w", "3", "--glob", "*.txt", "-p", "exec", "--set", "command=" + json.dumps(command),
            "--set", "prepare=" + prepare, cwd=tmp_path)
    assert r.code == 0, r
    assert (tmp_path / "prepared.log").read_text() == "run\n"
    outputs = {rec["id"]: rec["output"] for rec in r.records}
    assert len(outputs) == 6 and outputs["./cv-4.txt"] == "cv 4|ACME|ACME", outputs


def test_exec_prepare_is_kept_in_the_journal_for_a_resume(tmp_path):
    for i in range(3):
        (tmp_path / f"cv-{i}.txt").write_text(f"cv {i}\n")
    (tmp_path / "down").write_text("")
    prepare = "sh -c 'echo run >> prepared.log; echo ACME-$(wc -l < prepared.log)'"
    # A document fails while the file 'down' exists; its retry reads the kept research.
    command = ["sh", "-c", 'if [ -e down ] && [ "$1" = ./cv-1.txt ]; then exit 1; fi; cat "$2"', "sh", "{}", "{shared}"]
    common = ["run", ".", "--glob", "*.txt", "-p", "exec", "--set", "command=" + json.dumps(command),
              "--set", "prepare=" + prepare, "-o", "out.jsonl", "-O", "retry.attempts=1"]
    r = run(*common, cwd=tmp_path)
    assert r.code != 0 and (tmp_path / "prepared.log").read_text() == "run\n", r
    (tmp_path / "down").unlink()
    r = run(*common, "--resume", "-O", "retry_failed=true", cwd=tmp_path)
    assert r.code == 0, r
    assert (tmp_path / "prepared.log").read_text() == "run\n"
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {line["id"]: line.get("output") for line in lines}["./cv-1.txt"] == "ACME-1\n"
    r = run(*common, "--resume", "--set", "exec.prepare_again=true", cwd=tmp_path)
    assert r.code == 0 and (tmp_path / "prepared.log").read_text() == "run\nrun\n", r


def test_a_failing_exec_prepare_stops_the_batch_before_any_document(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    r = run("run", "a.txt", "-p", "exec", "--set", "command=cat", "--set", "prepare=sh -c 'echo no network >&2; exit 3'",
            cwd=tmp_path)
    assert r.code != 0 and r.records == []
    assert "prepare 'sh' failed (exit status 3): no network" in r.err and r.err.startswith("batchhost:"), r
