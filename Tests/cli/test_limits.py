"""Timeouts, usage and cost, budget and sample runs, as batchhost shows them.

Most use the counting test plugin (plugins/counting.c): it can hang, report
token usage and units, and announce a token estimate."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BATCHHOST, read_jsonl, run


def manifest(tmp_path, n, name="docs.jsonl", ids=None):
    """n documents whose paths need not exist (the counting plugin never reads them)."""
    m = tmp_path / name
    ids = ids or [f"doc-{i:04d}" for i in range(n)]
    m.write_text("".join(json.dumps({"id": i, "path": f"/nonexistent/{i}"}) + "\n" for i in ids))
    return m


def by_id(records):
    return {r["id"]: r for r in records}


# ---- timeouts ---------------------------------------------------------------

def test_a_hung_in_process_call_is_abandoned_at_the_timeout_and_retried(tmp_path, counting):
    ids = [f"doc-{i}" for i in range(8)] + ["stuck-1"]
    started = time.monotonic()
    r = run("run", "--manifest", manifest(tmp_path, 0, ids=ids), "-p", counting, "-w", "2",
            "--set", "hang=stuck", "--set", "hang_attempts=1",
            "--timeout", "300ms", "-O", "timeout.grace=100ms", "-O", "retry.base=0")
    elapsed = time.monotonic() - started
    assert r.code == 0, r
    records = by_id(r.records)
    assert len(records) == 9 and all(rec["status"] == "ok" for rec in records.values()), r
    assert records["stuck-1"]["attempts"] == 2
    assert records["stuck-1"]["output"] == {"seen": "stuck-1", "attempt": 2}
    assert "timed out after 300ms" in r.err, r.err
    assert elapsed < 10, elapsed  # the stuck thread is left behind, not waited for


def test_a_call_that_always_hangs_fails_after_its_attempts(tmp_path, counting):
    r = run("run", "--manifest", manifest(tmp_path, 0, ids=["a", "stuck", "b"]), "-p", counting,
            "--set", "hang=stuck", "--timeout", "100ms", "-O", "timeout.grace=0", "-O", "retry.attempts=3",
            "-O", "retry.base=0")
    assert r.code == 1, r
    records = by_id(r.records)
    assert records["a"]["status"] == records["b"]["status"] == "ok"
    assert records["stuck"]["status"] == "failed"
    assert records["stuck"]["attempts"] == 3
    assert records["stuck"]["error"] == "gave up after 3 attempts: timed out after 100ms"


def test_a_call_that_polls_is_cancelled_returns_at_the_timeout(tmp_path, counting):
    # The plugin sees the timeout through is_cancelled and returns by itself:
    # its answer is then ignored in favour of the timeout.
    r = run("run", "--manifest", manifest(tmp_path, 0, ids=["stuck"]), "-p", counting,
            "--set", "hang=stuck", "--set", "hang_polls=1", "--timeout", "100ms",
            "-O", "retry.attempts=2", "-O", "retry.base=0")
    assert r.code == 1, r
    assert r.records[0]["error"] == "gave up after 2 attempts: timed out after 100ms"
    assert "not stopped" not in r.err  # no call is left running at the end


def process_table():
    """pid -> (ppid, command line) for every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            table[int(entry.name)] = (ppid, cmdline)
    return table


def test_a_hung_exec_child_and_its_children_are_killed_at_the_timeout(tmp_path):
    # A duration no other process uses marks the grandchildren to look for.
    marker = f"{900 + os.getpid() % 97}.{time.monotonic_ns() % 10**6}"
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ["quick.txt", "slow.txt"]:
        (docs / name).write_text(name)
    # slow.txt starts a grandchild and waits for it: both must die.
    script = f'case "$1" in *slow*) sleep {marker} & wait ;; *) echo done ;; esac'
    started = time.monotonic()
    r = run("run", docs, "--timeout", "500ms", "-O", "timeout.grace=200ms", "-O", "retry.attempts=2",
            "-O", "retry.base=0", "--", "sh", "-c", script, "sh", "{}")
    elapsed = time.monotonic() - started
    assert r.code == 1, r
    records = {Path(rec["path"]).name: rec for rec in r.records}
    assert records["quick.txt"]["status"] == "ok"
    assert records["slow.txt"]["status"] == "failed"
    assert records["slow.txt"]["attempts"] == 2
    assert records["slow.txt"]["error"] == "gave up after 2 attempts: timed out after 500ms"
    assert elapsed < 10, elapsed
    time.sleep(0.2)
    strays = [cmd for _, cmd in process_table().values() if marker in cmd]
    assert strays == [], strays
