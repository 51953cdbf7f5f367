"""The journal has one owner, is checked before it is trusted, and a lost or
damaged journal never means finished documents silently run again."""
import collections
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BATCHHOST, read_jsonl, run, wait_for
from test_journal import FAIL_MARK, calls, check_exactly_once, run_args


def padded_manifest(tmp_path, n, pad=400):
    """n documents with metadata large enough that the journal spans many pages."""
    m = tmp_path / "docs.jsonl"
    with m.open("w") as f:
        for i in range(n):
            doc_id = f"doc-{i:05d}" + (FAIL_MARK if i % 97 == 0 else "")
            f.write(json.dumps({"id": doc_id, "path": "/dev/null", "metadata": {"pad": "x" * pad}}) + "\n")
    return m



def lines(path):
    return len(Path(path).read_text().splitlines()) if Path(path).exists() else 0


def start(args):
    return subprocess.Popen([str(BATCHHOST), *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def status(journal):
    r = run("status", journal, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


def test_a_second_run_on_a_journal_is_refused_at_once_while_status_still_reads_it(tmp_path, counting):
    n = 200
    m, out, log = padded_manifest(tmp_path, n, pad=10), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    first = start(run_args(counting, m, out, log, "-w", "2", sleep_us=100_000))
    try:
        wait_for(lambda: sum(calls(log).values()) >= 4, "the first run to be processing")
        for extra in (["--resume"], []):
            started = time.monotonic()
            second = run(*run_args(counting, m, out, log, "-w", "2", *extra, sleep_us=100_000))
            assert second.code == 2, second
            assert f"journal '{journal}' is in use by pid {first.pid} since " in second.err, second
            assert time.monotonic() - started < 30, "the second run waited instead of being refused"
        assert first.poll() is None, "the first run should still be running"
        # Readers still read it, and status describes the live run.
        live = wait_for(lambda: status(journal)["live"], "status to see the live run")
        assert live["pid"] == first.pid
        live = wait_for(lambda: (lambda l: l if l and l["in_flight"] is not None else None)(status(journal)["live"]),
                        "the live run to report its progress")
        assert live["total"] == n and live["in_flight"] <= 2
        data = status(journal)
        assert data["runs"][-1]["state"] == "running"
        text = run("status", journal)
        assert f"pid {first.pid}" in text.out and f"of {n} finished" in text.out and "docs/min" in text.out, text
        assert run("failed", journal).code == 0
        assert run("export", journal).code == 0
    finally:
        kill(first)
    # Nothing of the refused runs reached the output: every id once after a resume.
    r = run(*run_args(counting, m, out, log, "-w", "16", "--resume", sleep_us=100_000))
    assert r.code == 1, r
    check_exactly_once(out, journal, n)


def test_status_after_kill_9_shows_an_interrupted_run_with_real_figures(tmp_path, counting):
    n = 400
    m, out, log = padded_manifest(tmp_path, n, pad=10), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    proc = start(run_args(counting, m, out, log, "-w", "4", "-O", "checkpoint.every=5", sleep_us=20_000))
    wait_for(lambda: lines(out) >= 40, "some results to be committed")
    kill(proc)
    data = status(journal)
    run1 = data["runs"][0]
    assert run1["state"] == "interrupted", data
    assert data["live"] is None
    assert run1["processed"] > 0 and run1["seconds"] > 0, run1
    assert data["docs_per_minute"] is None or data["docs_per_minute"] > 0
    text = run("status", journal)
    assert ", interrupted, " in text.out and "running" not in text.out.replace(str(tmp_path), "") and "in 0.0 s" not in text.out, text
    assert "docs/hour" not in text.out


def test_a_damaged_journal_is_refused_and_recover_rebuilds_it(tmp_path, counting):
    n = 1500
    m, out, log = padded_manifest(tmp_path, n), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    assert run(*run_args(counting, m, out, log, "-w", "8")).code == 1
    size = journal.stat().st_size
    assert size > 100 * 4096, "the journal should span many pages"
    with journal.open("r+b") as f:
        f.seek((size // 2) // 4096 * 4096)
        f.write(os.urandom(4096))
    before, called = out.read_bytes(), sum(calls(log).values())
    r = run(*run_args(counting, m, out, log, "--resume"))
    assert r.code == 2, r
    assert "is damaged" in r.err and f"batchhost recover -o {out} -c {journal}" in r.err, r
    assert out.read_bytes() == before and sum(calls(log).values()) == called, "a damaged journal was resumed"

    r = run("recover", "-o", out, "-c", journal)
    assert r.code == 0, r
    assert f"recovered {n} finished documents" in r.err and Path(str(journal) + ".bak").exists(), r
    r = run(*run_args(counting, m, out, log, "--resume"))
    assert r.code == 1, r
    assert f"{n} already done" in r.err
    assert sum(calls(log).values()) == called, "recovered documents ran again"
    check_exactly_once(out, journal, n)


@pytest.mark.parametrize("loss", ["truncated", "copied without its -wal"])
def test_an_empty_journal_is_not_resumed_as_new_and_recover_then_resume_finishes(tmp_path, counting, loss):
    n = 600
    m, out, log = padded_manifest(tmp_path, n, pad=10), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    proc = start(run_args(counting, m, out, log, "-w", "4", "-O", "checkpoint.every=10", sleep_us=5_000))
    wait_for(lambda: lines(out) >= 100, "results in the output")
    kill(proc)
    if loss == "truncated":
        journal.write_bytes(b"")
    else:
        copy = tmp_path / "copy.journal"
        copy.write_bytes(journal.read_bytes())  # the -wal (all of the run) stays behind
        for suffix in ("", "-wal", "-shm"):
            Path(str(journal) + suffix).unlink(missing_ok=True)
        copy.rename(journal)
    held = {rec["id"] for rec in read_jsonl(out)}
    before = out.read_bytes()
    log.unlink()
    for extra in (["--resume"], []):
        r = run(*run_args(counting, m, out, log, "-w", "4", *extra))
        assert r.code == 2, r
        assert f"batchhost recover -o {out} -c {journal}" in r.err, r
        assert out.read_bytes() == before and not calls(log), "results the journal lost were run again"

    r = run("recover", "-o", out, "-c", journal)
    assert r.code == 0, r
    r = run(*run_args(counting, m, out, log, "-w", "4", "--resume"))
    assert r.code == 1, r
    check_exactly_once(out, journal, n)
    assert not held & set(calls(log)), "documents the output held ran again"


def test_a_wal_deleted_mid_run_then_kill_9_is_refused_not_rerun(tmp_path, counting):
    n = 1000
    m, out, log = padded_manifest(tmp_path, n, pad=10), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    args = run_args(counting, m, out, log, "-w", "4", "-O", "checkpoint.every=10", sleep_us=5_000)
    # A first part ends cleanly: its results are in the journal file itself.
    first = start(args)
    wait_for(lambda: lines(out) >= 100, "a first part of the results")
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=60) == 3
    first.stderr.close()
    committed = lines(out)
    second = start([*args, "--resume"])
    wait_for(lambda: lines(out) >= committed + 200, "results of the resumed run")
    Path(str(journal) + "-wal").unlink()
    wait_for(lambda: lines(out) >= committed + 300, "more results after the -wal was deleted")
    kill(second)
    held = {rec["id"] for rec in read_jsonl(out)}
    before = out.read_bytes()
    log.unlink()
    r = run(*args, "--resume")
    assert r.code == 2, r
    assert f"batchhost recover -o {out} -c {journal}" in r.err, r
    assert out.read_bytes() == before and not calls(log)
    assert len(status(journal)["runs"]) == 1, "the refused run was recorded in the journal"

    assert run("recover", "-o", out, "-c", journal).code == 0
    r = run(*args, "--resume")
    assert r.code == 1, r
    check_exactly_once(out, journal, n)
    assert not held & set(calls(log)), "documents the output held ran again"


def test_recover_keeps_the_last_line_of_a_repeated_id_and_leaves_out_a_torn_line(tmp_path, counting):
    n = 50
    m, out, log = padded_manifest(tmp_path, n, pad=10), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    assert run(*run_args(counting, m, out, log)).code == 1
    records = out.read_text().splitlines()
    # Two runs at once once wrote ids twice; a crash tore the last line.
    out.write_text("\n".join(records + records[:5]) + "\n" + records[5][:20])
    journal.unlink()
    r = run("recover", "-o", out, "-c", journal)
    assert r.code == 0, r
    assert "5 lines repeated an id" in r.err and "torn last line" in r.err, r
    assert Path(str(out) + ".bak").exists()
    log.unlink()
    r = run(*run_args(counting, m, out, log, "--resume"))
    assert r.code == 1, r
    check_exactly_once(out, journal, n)
    assert not calls(log), "recovered documents ran again"


def test_recover_refuses_a_journal_in_use_and_a_line_that_is_no_result(tmp_path, counting):
    m, out, log = padded_manifest(tmp_path, 100, pad=10), tmp_path / "out.jsonl", tmp_path / "calls"
    journal = Path(str(out) + ".journal")
    proc = start(run_args(counting, m, out, log, "-w", "1", sleep_us=200_000))
    try:
        wait_for(lambda: calls(log), "the run to start")
        r = run("recover", "-o", out, "-c", journal)
        assert r.code == 2 and f"is in use by pid {proc.pid}" in r.err, r
    finally:
        kill(proc)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id":"a","status":"ok","attempts":1}\nnot json\n')
    r = run("recover", "-o", bad, "-c", tmp_path / "bad.journal")
    assert r.code == 2 and "line 2" in r.err, r
    assert not (tmp_path / "bad.journal").exists()


def test_an_existing_output_is_not_overwritten_without_overwrite(tmp_path, counting):
    m, out, log = padded_manifest(tmp_path, 20, pad=10), tmp_path / "out.jsonl", tmp_path / "calls"
    out.write_text("precious\n")
    for extra in (["--no-checkpoint"], []):
        r = run(*run_args(counting, m, out, log, *extra))
        assert r.code == 2 and "already exists" in r.err and "--overwrite" in r.err, r
        assert out.read_text() == "precious\n" and not calls(log)
    r = run(*run_args(counting, m, out, log, "--overwrite"))
    assert r.code == 1, r
    assert len(read_jsonl(out)) == 20
    # Its own journal's output is no stranger: a resume needs no --overwrite.
    assert run(*run_args(counting, m, out, log, "--resume")).code == 1


def test_a_journal_write_failing_mid_run_exits_3(tmp_path, counting):
    m, log = padded_manifest(tmp_path, 3000), tmp_path / "calls"
    journal = tmp_path / "run.journal"
    # One commit, made when the documents are all done: the write fails as the run ends.
    args = " ".join(f"'{a}'" for a in [BATCHHOST, *run_args(counting, m, "/dev/null", log, "-c", journal,
                                                            "-O", "checkpoint.every=1000000", "-O", "checkpoint.interval=3600s")])
    # Writes past 512 KiB fail (EFBIG): only the journal grows.
    r = subprocess.run(["bash", "-c", f"trap '' XFSZ; ulimit -f 512; exec {args}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert "--resume" in r.stderr, r.stderr


def test_a_resume_writes_to_a_pipe_or_device_output_and_never_replaces_it(tmp_path, counting):
    # Rebuilding a resumed output renames a new file over it: done to a pipe
    # (or /dev/null) that would replace the pipe or device with a file.
    m, log = padded_manifest(tmp_path, 30, pad=10), tmp_path / "calls"
    fifo, journal = tmp_path / "results.fifo", tmp_path / "run.journal"
    os.mkfifo(fifo)
    for extra in ([], ["--resume"]):
        reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
        r = run(*run_args(counting, m, fifo, log, "-c", journal, *extra))
        received = reader.communicate(timeout=60)[0].splitlines()
        assert r.code == 1, r  # some documents fail on purpose
        assert os.path.exists(fifo) and os.stat(fifo).st_mode & 0o170000 == 0o010000, "the pipe was replaced"
        assert not list(tmp_path.glob("*.rebuilding"))
        # The resume runs nothing again and streams the journal's results.
        assert len(received) == 30 and {json.loads(line)["id"] for line in received} == set(calls(log))
    assert sum(calls(log).values()) == 30
    r = run("recover", "-o", fifo, "-c", journal)
    assert r.code == 2 and "is not a regular file" in r.err, r
