"""Checkpoint and resume: the journal, exactly-once output, status/failed/export."""
import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BATCHHOST, ROOT, LineReader, compile_plugin, read_jsonl, run, wait_for

FAIL_MARK = "x7"  # ids containing this fail on purpose


def manifest(tmp_path, n):
    """n documents; the counting plugin never reads their file."""
    m = tmp_path / "docs.jsonl"
    with m.open("w") as f:
        for i in range(n):
            doc_id = f"doc-{i:05d}" + (FAIL_MARK if i % 97 == 0 else "")
            f.write(json.dumps({"id": doc_id, "path": "/dev/null"}) + "\n")
    return m


def calls(path):
    return collections.Counter(Path(path).read_text().split()) if Path(path).exists() else collections.Counter()


def journal_rows(journal):
    db = sqlite3.connect(journal)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents'").fetchone():
            return {}  # killed before its first transaction
        return {row[0]: row[1] for row in db.execute("SELECT id, status FROM documents")}
    finally:
        db.close()


def committed_so_far(journal):
    """Ids the journal holds; none when a kill came before it had its tables."""
    try:
        return set(journal_rows(journal)) if journal.exists() else set()
    except sqlite3.OperationalError:
        return set()


def run_args(counting, m, out, calls_file, *extra, sleep_us=0):
    return ["run", "--manifest", m, "-p", counting, "-o", out,
            "--set", f"calls={calls_file}", "--set", f"sleep_us={sleep_us}", "--set", f"fail={FAIL_MARK}", *extra]


def test_output_journals_by_default_and_status_reports_it(tmp_path, counting):
    m, out, log = manifest(tmp_path, 300), tmp_path / "out.jsonl", tmp_path / "calls"
    r = run(*run_args(counting, m, out, log))
    assert r.code == 1, r  # some documents fail on purpose
    journal = Path(str(out) + ".journal")
    assert journal.exists()
    rows = journal_rows(journal)
    assert len(rows) == 300
    failed = sum(1 for i in range(300) if i % 97 == 0)
    assert sum(1 for s in rows.values() if s == 3) == failed
    status = run("status", journal, "--json")
    assert status.code == 0, status
    data = json.loads(status.out)
    assert data["finished"] == 300 and data["failed"] == failed and data["ok"] == 300 - failed
    assert data["runs"][0]["state"] == "finished" and data["runs"][0]["processed"] == 300
    assert all(FAIL_MARK in e["id"] and e["error"] == "failing on purpose" for e in data["last_errors"])
    text = run("status", journal)
    assert "300 finished" in text.out and "last errors:" in text.out


def test_no_default_journal_beside_a_device(tmp_path, counting):
    m, log = manifest(tmp_path, 5), tmp_path / "calls"
    for _ in range(2):  # a second run would be refused if a journal had been made
        r = run(*run_args(counting, m, "/dev/null", log))
        assert r.code == 1, r
    assert not Path("/dev/null.journal").exists()


def test_existing_journal_needs_resume(tmp_path, counting):
    m, out, log = manifest(tmp_path, 50), tmp_path / "out.jsonl", tmp_path / "calls"
    run(*run_args(counting, m, out, log))
    r = run(*run_args(counting, m, out, log))
    assert r.code == 2 and "already holds a run" in r.err and "--resume" in r.err, r
    r = run(*run_args(counting, m, tmp_path / "other.jsonl", log, "--resume", "--no-checkpoint"))
    assert r.code == 2


def test_resume_skips_done_documents_without_calling_the_processor(tmp_path, counting):
    m, out, log = manifest(tmp_path, 400), tmp_path / "out.jsonl", tmp_path / "calls"
    assert run(*run_args(counting, m, out, log)).code == 1
    assert sum(calls(log).values()) == 400
    before = out.read_text()
    r = run(*run_args(counting, m, out, log, "--resume"))
    assert r.code == 1, r  # the failed ones are still failed
    assert sum(calls(log).values()) == 400, "resume called the processor for finished documents"
    assert "400 already done in the journal" in r.err
    assert out.read_text() == before


def test_resume_cuts_the_output_back_to_what_the_journal_recorded(tmp_path, counting):
    m, out, log = manifest(tmp_path, 100), tmp_path / "out.jsonl", tmp_path / "calls"
    assert run(*run_args(counting, m, out, log)).code == 1
    before = out.read_text()
    # What a crash between writing a group's lines and committing it leaves:
    # whole lines and a torn one past the recorded offset.
    with out.open("a") as f:
        f.write(json.dumps({"id": "doc-00001", "status": "ok", "uncommitted": True}) + "\n" + '{"id": "doc-0')
    r = run(*run_args(counting, m, out, log, "--resume"))
    assert r.code == 1, r
    assert out.read_text() == before
    assert sum(calls(log).values()) == 100


def test_retry_failed_reruns_only_failed_documents(tmp_path, counting):
    m, out, log = manifest(tmp_path, 500), tmp_path / "out.jsonl", tmp_path / "calls"
    assert run(*run_args(counting, m, out, log)).code == 1
    failed_ids = {rec["id"] for rec in read_jsonl(out) if rec["status"] == "failed"}
    assert failed_ids and all(FAIL_MARK in i for i in failed_ids)
    log.unlink()
    # Same stages and options (the journal refuses others), so they fail again: the point is who runs.
    r = run(*run_args(counting, m, out, log, "--resume", "--retry-failed"))
    assert r.code == 1, r
    assert set(calls(log)) == failed_ids and all(n == 1 for n in calls(log).values())
    records = read_jsonl(out)
    assert len(records) == 500 and len({rec["id"] for rec in records}) == 500


def test_changed_options_on_resume_are_refused_naming_the_difference(tmp_path, counting):
    m, out, log = manifest(tmp_path, 30), tmp_path / "out.jsonl", tmp_path / "calls"
    run(*run_args(counting, m, out, log))
    r = run(*run_args(counting, m, out, log, "--resume", sleep_us=5))
    assert r.code == 2, r
    assert "option 'sleep_us'" in r.err and "'0'" in r.err and "'5'" in r.err
    r = run("run", "--manifest", m, "-p", "text", "-o", out, "--resume")
    assert r.code == 2 and "stages:" in r.err, r
    other = tmp_path / "other.jsonl"
    other.write_text(m.read_text())
    r = run(*run_args(counting, other, out, log, "--resume"))
    assert r.code == 2 and "inputs:" in r.err and "other.jsonl" in r.err, r
    r = run(*run_args(counting, m, out, log, "--resume", "--force-resume", sleep_us=5))
    assert r.code == 1, r


def test_resume_without_a_journal_is_an_error(tmp_path, counting):
    m = manifest(tmp_path, 5)
    r = run(*run_args(counting, m, tmp_path / "out.jsonl", tmp_path / "calls", "--resume"))
    assert r.code == 2 and "no journal" in r.err, r


def check_exactly_once(out, journal, n):
    records = read_jsonl(out)
    ids = collections.Counter(rec["id"] for rec in records)
    assert len(ids) == n, f"{n - len(ids)} documents missing from the output"
    assert max(ids.values()) == 1, f"duplicated in the output: {[i for i, c in ids.items() if c > 1][:5]}"
    for rec in records:
        expected = "failed" if FAIL_MARK in rec["id"] else "ok"
        assert rec["status"] == expected, rec
    rows = journal_rows(journal)
    assert {i: {1: "ok", 3: "failed"}[s] for i, s in rows.items()} == {r["id"]: r["status"] for r in records}
    exported = run("export", journal)
    assert sorted(exported.out.splitlines()) == sorted(Path(out).read_text().splitlines())


def test_kill_9_at_random_moments_then_resume_gives_exactly_once_output(tmp_path, counting):
    n = 3000
    m, out, log = manifest(tmp_path, n), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    rng = random.Random(20261123)
    args = run_args(counting, m, out, log, "-w", "8", "-O", "checkpoint.every=50", "-O", "checkpoint.interval=20ms",
                    sleep_us=4000)
    kills = 0
    at_kills = []
    for attempt in range(13):
        resume = ["--resume"] if committed_so_far(journal) else []
        proc = subprocess.Popen([str(BATCHHOST), *map(str, args), *resume],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # Twelve kills at random moments, then a run left to finish.
            proc.wait(timeout=rng.uniform(0.05, 0.3) if attempt < 12 else 300)
            err = proc.stderr.read().decode()
            assert proc.returncode == 1, err  # finished: some fail on purpose
            break
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            kills += 1
            # At this kill: what the journal holds, and what was called but not committed.
            committed = committed_so_far(journal)
            called = calls(log)
            at_kills.append((committed, called, set(called) - committed))
    else:
        pytest.fail("the run never finished")
    assert kills >= 3, "the run finished too fast to be interrupted; raise n or sleep_us"
    check_exactly_once(out, journal, n)
    # Every document ran at least once; nothing committed ran again, and the
    # re-runs are bounded by what was in flight or uncommitted at each kill.
    counted = calls(log)
    assert set(counted) == {rec["id"] for rec in read_jsonl(out)}
    for committed, called, _ in at_kills:
        assert all(counted[i] == called[i] for i in committed), "a committed document ran again"
    assert sum(counted.values()) - n <= sum(len(uncommitted) for _, _, uncommitted in at_kills)


def test_sigint_leaves_a_resumable_journal_and_exits_3(tmp_path, counting):
    n = 400
    m, out, log = manifest(tmp_path, n), tmp_path / "out.jsonl", tmp_path / "calls"
    proc = subprocess.Popen([str(BATCHHOST), *map(str, run_args(counting, m, out, log, "-w", "4", sleep_us=20000))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: sum(calls(log).values()) >= 4, "documents in flight")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "--resume" in err and "To continue" in err
    journal = Path(str(out) + ".journal")
    done = journal_rows(journal)
    assert 0 < len(done) < n
    assert len(read_jsonl(out)) == len(done)
    r = run(*run_args(counting, m, out, log, "-w", "4", "--resume", sleep_us=20000))
    assert r.code == 1, r
    check_exactly_once(out, journal, n)
    assert all(c == 1 for c in calls(log).values()), "a document finished before SIGINT ran again"


def test_second_sigint_stops_at_once_and_the_journal_stays_consistent(tmp_path, counting):
    n = 200
    m, out, log = manifest(tmp_path, n), tmp_path / "out.jsonl", tmp_path / "calls"
    # Each call takes 10 s: the first Ctrl-C waits for them, the second does not.
    proc = subprocess.Popen([str(BATCHHOST), *map(str, run_args(counting, m, out, log, "-w", "2", sleep_us=10_000_000))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = LineReader(proc.stderr)
    wait_for(lambda: len(calls(log)) == 2, "both workers inside a call")
    proc.send_signal(signal.SIGINT)
    err.wait_for("interrupted")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 3, err.text()
    assert time.monotonic() - started < 8, "the second Ctrl-C waited for the 10 s calls"
    journal = Path(str(out) + ".journal")
    assert journal_rows(journal) == {} and read_jsonl(out) == []  # nothing finished, nothing claimed
    r = run("status", journal, "--json")
    assert r.code == 0 and json.loads(r.out)["runs"][0]["state"] in ("interrupted", "stopped"), r
    # The two stopped in flight run again on resume, and every document ends up once.
    in_flight = set(calls(log))
    r = run(*run_args(counting, m, out, log, "-w", "2", "--resume", "--force-resume"))
    assert r.code == 1, r
    check_exactly_once(out, journal, n)
    assert all(calls(log)[i] == 2 for i in in_flight) and sum(calls(log).values()) == n + 2


def test_full_disk_gives_a_clear_error_and_loses_nothing(tmp_path, counting):
    n = 3000
    m, out, log = manifest(tmp_path, n), tmp_path / "out.jsonl", tmp_path / "calls"
    args = " ".join(f"'{a}'" for a in [BATCHHOST, *run_args(counting, m, out, log)])
    # A file-size limit makes writes past 64 KiB fail (EFBIG), as a full disk would.
    r = subprocess.run(["bash", "-c", f"trap '' XFSZ; ulimit -f 128; exec {args}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode not in (0, 1), r.stderr
    assert "--resume" in r.stderr and ("full" in r.stderr or "too large" in r.stderr or "I/O" in r.stderr), r.stderr
    journal = Path(str(out) + ".journal")
    done = journal_rows(journal)
    assert len(done) < n
    r = run(*run_args(counting, m, out, log, "--resume"))
    assert r.code == 1, r
    check_exactly_once(out, journal, n)


def test_journal_in_an_unwritable_place_is_a_clear_error(tmp_path, counting):
    m, log = manifest(tmp_path, 10), tmp_path / "calls"
    r = run(*run_args(counting, m, tmp_path / "out.jsonl", log, "--checkpoint", "/proc/no/such/dir/run.journal"))
    assert r.code == 2, r
    assert "cannot open the journal" in r.err and "/proc/no/such/dir/run.journal" in r.err
    calls = tmp_path / "calls"
    assert not calls.exists() or calls.read_text() == "", "documents ran without a journal"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    as_nobody = (lambda: os.setuid(65534)) if os.getuid() == 0 else None
    os.chmod(tmp_path, 0o755)
    proc = subprocess.run([str(BATCHHOST), "run", str(ROOT / "samples" / "notes"), "-p", "text",
                           "-o", str(locked / "out.jsonl")], capture_output=True, text=True, preexec_fn=as_nobody)
    assert proc.returncode == 2, proc.stderr
    assert str(locked) in proc.stderr and ("writable" in proc.stderr or "ermission" in proc.stderr), proc.stderr


def test_failed_and_export_commands(tmp_path, counting):
    m, out, log = manifest(tmp_path, 200), tmp_path / "out.jsonl", tmp_path / "calls"
    run(*run_args(counting, m, out, log))
    journal = Path(str(out) + ".journal")
    expected = {f"doc-{i:05d}{FAIL_MARK}" for i in range(200) if i % 97 == 0}
    table = run("failed", journal)
    assert table.code == 0 and all(i in table.out for i in expected) and "failing on purpose" in table.out
    exported = tmp_path / "failed.jsonl"
    assert run("failed", journal, "--export", exported).code == 0
    recs = read_jsonl(exported)
    assert {r["id"] for r in recs} == expected and all(r["attempts"] == 1 for r in recs)
    as_json = json.loads(run("export", journal, "--format", "json").out)
    assert len(as_json) == 200
    csv = run("export", journal, "--format", "csv", "-o", tmp_path / "all.csv")
    assert csv.code == 0
    lines = (tmp_path / "all.csv").read_text().splitlines()
    assert lines[0].startswith("id,path,status") and len(lines) == 201
    assert run("export", journal, "--format", "xml").code == 2
    assert run("status", tmp_path / "nope.journal").code == 2


def dedupe_run(counting, d, out, log, *extra):
    """A sequential dedupe run that commits nothing before it ends, so
    duplicates find their original among the results not yet committed."""
    return run("run", d, "-p", counting, "--set", f"calls={log}", "--set", "fail=FAILME", "-o", out,
               "--dedupe", "-s", "-O", "checkpoint.every=1000000", "-O", "checkpoint.interval=1h", *extra)


def test_dedupe_never_lends_a_failure_within_a_run(tmp_path, counting):
    d = tmp_path / "docs"
    d.mkdir()
    for name in ["a-FAILME.txt", "b.txt", "c.txt"]:
        (d / name).write_text("same content\n")
    out, log = tmp_path / "out.jsonl", tmp_path / "calls"
    r = dedupe_run(counting, d, out, log)
    assert r.code == 1, r
    records = {Path(rec["path"]).name: rec for rec in read_jsonl(out)}
    assert records["a-FAILME.txt"]["status"] == "failed"
    # b is processed itself, not handed a's failure; c then reuses b's result.
    assert records["b.txt"]["status"] == "ok" and "duplicate_of" not in records["b.txt"], records["b.txt"]
    assert records["c.txt"]["status"] == "ok" and records["c.txt"]["duplicate_of"] == records["b.txt"]["id"]
    assert sorted(Path(p).name for p in calls(log)) == ["a-FAILME.txt", "b.txt"]


def test_dedupe_never_lends_a_failure_from_the_journal(tmp_path, counting):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a-FAILME.txt").write_text("same content\n")
    out, log = tmp_path / "out.jsonl", tmp_path / "calls"
    assert dedupe_run(counting, d, out, log).code == 1
    for name in ["b.txt", "c.txt"]:
        (d / name).write_text("same content\n")
    r = dedupe_run(counting, d, out, log, "--resume")
    assert r.code == 1, r  # a is still failed
    records = {Path(rec["path"]).name: rec for rec in read_jsonl(out)}
    assert records["b.txt"]["status"] == "ok" and "duplicate_of" not in records["b.txt"], records["b.txt"]
    assert records["c.txt"]["duplicate_of"] == records["b.txt"]["id"]
    assert sorted(Path(p).name for p in calls(log)) == ["a-FAILME.txt", "b.txt"]


def test_dedupe_reuses_results_of_identical_content(tmp_path, counting):
    d = tmp_path / "docs"
    d.mkdir()
    for i in range(10):
        (d / f"a{i}.txt").write_text("same content\n")
        (d / f"b{i}.txt").write_text(f"unique {i}\n")
    out, log = tmp_path / "out.jsonl", tmp_path / "calls"
    r = run("run", d, "-p", counting, "--set", f"calls={log}", "-o", out, "--dedupe", "-s")
    assert r.code == 0, r
    records = {rec["id"]: rec for rec in read_jsonl(out)}
    assert len(records) == 20
    assert sum(calls(log).values()) == 11, calls(log)  # one of the ten identical files, ten unique ones
    dupes = [rec for rec in records.values() if "duplicate_of" in rec]
    assert len(dupes) == 9
    original = records[dupes[0]["duplicate_of"]]
    assert all(rec["output"] == original["output"] and rec["status"] == "ok" for rec in dupes)
    assert "9 reused from identical documents" in r.err
    r = run("run", d, "-p", counting, "--dedupe")
    assert r.code == 2 and "needs a journal" in r.err


def test_csv_export_has_every_member_of_the_jsonl(tmp_path, counting):
    import csv as csvlib
    import io
    d = tmp_path / "docs"
    d.mkdir()
    m = tmp_path / "docs.jsonl"
    with m.open("w") as f:
        for i, content in enumerate(["same\n", "same\n", "other\n", "third\n"]):
            (d / f"{i}.txt").write_text(content)
            doc_id = f"doc-{i}" + (FAIL_MARK if i == 3 else "")
            f.write(json.dumps({"id": doc_id, "path": str(d / f"{i}.txt"), "metadata": {"n": i, "tag": "a,b"}}) + "\n")
    out = tmp_path / "out.jsonl"
    r = run("run", "--manifest", m, "-p", counting, "-o", out, "-s", "--dedupe", "--set", "usage=10,20",
            "--set", "units=2", "--set", f"fail={FAIL_MARK}", "-O", "price.input=3", "-O", "price.output=15")
    assert r.code == 1, r
    journal = Path(str(out) + ".journal")
    jsonl = {rec["id"]: rec for rec in read_jsonl(out)}
    assert any("duplicate_of" in rec for rec in jsonl.values()) and any("failed_stage" in rec for rec in jsonl.values())
    exported = tmp_path / "all.csv"
    assert run("export", journal, "--format", "csv", "-o", exported).code == 0
    rows = list(csvlib.DictReader(io.StringIO(exported.read_bytes().decode(), newline="")))
    assert len(rows) == 4
    for row in rows:
        rec = jsonl[row["id"]]
        for key, value in rec.items():
            if key in ("output", "metadata"):
                assert (json.loads(row[key]) if row[key] else None) == value, (key, row)
            elif isinstance(value, float):
                assert float(row[key]) == pytest.approx(value), (key, row)
            else:
                assert row[key] == ("" if value is None else str(value)), (key, row)
        for key in set(row) - set(rec):  # members the JSONL leaves out when they do not apply
            assert row[key] in ("", "0", "0.0"), (key, row)
