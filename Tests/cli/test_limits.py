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

from conftest import BATCHHOST, read_jsonl, run, wait_for


def manifest(tmp_path, n, name="docs.jsonl", ids=None):
    """n documents whose paths need not exist (the counting plugin never reads them)."""
    m = tmp_path / name
    ids = ids or [f"doc-{i:04d}" for i in range(n)]
    m.write_text("".join(json.dumps({"id": i, "path": "/dev/null"}) + "\n" for i in ids))
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
    out = tmp_path / "out.jsonl"
    r = run("run", "--manifest", manifest(tmp_path, 0, ids=["a", "stuck", "b"]), "-p", counting, "-o", out,
            "--set", "hang=stuck", "--timeout", "100ms", "-O", "timeout.grace=0", "-O", "retry.attempts=3",
            "-O", "retry.base=0")
    assert r.code == 1, r
    assert "3 timeouts" in r.err, r.err
    failed = run("failed", f"{out}.journal", "--jsonl")
    assert failed.code == 0, failed
    journaled = [json.loads(line) for line in failed.out.splitlines()]
    assert [(f["id"], f["attempts"]) for f in journaled] == [("stuck", 3)], failed
    records = by_id(read_jsonl(out))
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
    # SIGKILL is sent by then, but the kernel may take a moment to reap.
    wait_for(lambda: not [cmd for _, cmd in process_table().values() if marker in cmd],
             "the timed-out command's process group to be gone", timeout=10)


# ---- usage and cost -------------------------------------------------------

def test_usage_units_and_cost_add_up_in_output_summary_and_journal(tmp_path, counting):
    out = tmp_path / "out.jsonl"
    r = run("run", "--manifest", manifest(tmp_path, 40), "-p", counting, "-o", out,
            "--set", "usage=1000,250", "--set", "units=3",
            "--price-input", "3", "--price-output", "15")
    assert r.code == 0, r
    records = read_jsonl(out)
    assert len(records) == 40
    for rec in records:
        assert (rec["input_tokens"], rec["output_tokens"], rec["units"]) == (1000, 250, 3)
        assert rec["cost_usd"] == pytest.approx(1000 * 3e-6 + 250 * 15e-6)
    expected = 40 * (1000 * 3e-6 + 250 * 15e-6)  # $0.27
    assert "40000 input + 10000 output tokens" in r.err and "120 units" in r.err, r.err
    assert f"${expected:.4f} spent" in r.err, r.err

    status = run("status", f"{out}.journal", "--json")
    summary = json.loads(status.out)
    assert summary["cost_usd"] == pytest.approx(expected)
    assert summary["units"] == 120 and summary["input_tokens"] == 40000


def test_without_prices_usage_is_counted_but_costs_nothing(tmp_path, counting):
    r = run("run", "--manifest", manifest(tmp_path, 5), "-p", counting, "--set", "usage=10,5")
    assert r.code == 0, r
    assert all("cost_usd" not in rec and rec["input_tokens"] == 10 for rec in r.records)
    assert "spent" not in r.err


# ---- budget ---------------------------------------------------------------

def test_a_budget_stops_dispatch_exits_3_and_resume_with_a_larger_one_finishes(tmp_path, counting):
    docs = manifest(tmp_path, 100)
    out = tmp_path / "out.jsonl"
    # Each document costs 1000 input tokens at $10/Mtok = $0.01: $0.25 buys 25.
    args = ["run", "--manifest", docs, "-p", counting, "-o", out, "-w", "4",
            "--set", "usage=1000,0", "--set", "estimate=1000,0", "--price-input", "10"]
    r = run(*args, "--budget", "0.25")
    assert r.code == 3, r
    first = read_jsonl(out)
    assert 20 <= len(first) <= 25, len(first)  # never over budget; stops near it
    spent = sum(rec["cost_usd"] for rec in first)
    assert spent <= 0.25 + 1e-9
    assert "budget reached" in r.err and "--resume" in r.err, r.err
    assert all(line.startswith(("batchhost: ", "  ")) for line in r.err.splitlines()), r.err

    again = run(*args, "--budget", "0.25", "--resume")
    assert again.code == 3, again  # the budget counts what the first run spent
    assert len(read_jsonl(out)) == len(first)

    # The advice is a command that raises the budget enough for the rest ($1.00 in all, and 10%).
    assert "to continue with a budget of $1.10" in r.err, r.err
    command = r.err.split("run:\n  ", 1)[1].splitlines()[0]
    assert "--budget 0.25" not in command and "--budget 1.10" in command, command
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    records = read_jsonl(out)
    assert sorted(rec["id"] for rec in records) == [f"doc-{i:04d}" for i in range(100)]
    assert json.loads(run("status", f"{out}.journal", "--json").out)["cost_usd"] == pytest.approx(1.0)
    # This run's usage and money, and then all runs' money, each said as such.
    rest = 100 - len(first)
    assert f"this run: {rest * 1000} input + 0 output tokens, ${rest * 0.01:.4f} spent" in done.stderr, done.stderr
    assert "$1.00 spent by all runs of the journal" in done.stderr, done.stderr


def test_a_budget_without_any_price_is_refused_before_anything_runs(tmp_path, counting):
    calls = tmp_path / "calls"
    r = run("run", "--manifest", manifest(tmp_path, 5), "-p", counting, "--set", f"calls={calls}",
            "--budget", "1")
    assert r.code == 2, r
    assert "a budget needs prices" in r.err and "--price-input" in r.err, r.err
    assert not calls.exists() or calls.read_text() == ""  # create() ran, process() never


# ---- sample ---------------------------------------------------------------

def test_sample_runs_documents_spread_over_the_input_and_projects_the_whole(tmp_path, counting):
    calls = tmp_path / "calls"
    out = tmp_path / "out.jsonl"
    args = ["run", "--manifest", manifest(tmp_path, 1000), "-p", counting, "-o", out, "-w", "8",
            "--set", f"calls={calls}", "--set", "sleep_us=20000", "--set", "usage=100,100",
            "--price-input", "1", "--price-output", "1"]
    r = run(*args, "--sample", "10")
    assert r.code == 0, r
    sampled = calls.read_text().split()
    assert len(sampled) == 10
    numbers = sorted(int(i.split("-")[1]) for i in sampled)
    # One from each stretch of 100 (its last), whichever worker read it: spread, not the first ten.
    assert numbers == [100 * k + 99 for k in range(10)], numbers
    assert "sample of 10 of 1000 documents: the whole input would take about" in r.err, r.err
    assert "cost about $0.2000" in r.err, r.err  # 1000 × 200 tokens at $1/Mtok
    assert "--sample" not in r.err.split("to process the rest:")[1]

    rest = run(*args, "--resume")
    assert rest.code == 0, rest
    assert len(calls.read_text().split()) == 1000  # the sampled ten were not run again
    assert len(read_jsonl(out)) == 1000


def test_sample_of_standard_input_is_refused(tmp_path, counting):
    r = run("run", "-", "-p", counting, "--sample", "2", stdin="a\nb\nc\n")
    assert r.code == 2, r
    assert "sample needs to know how many documents" in r.err, r.err


# ---- progress -------------------------------------------------------------

def test_progress_json_prints_one_object_per_tick(tmp_path, counting):
    r = run("run", "--manifest", manifest(tmp_path, 30), "-p", counting, "--set", "sleep_us=50000",
            "-w", "2", "--progress", "json", "-O", "progress.interval=100ms",
            "--set", "usage=10,0", "--price-input", "100")
    assert r.code == 0, r
    ticks = [o for o in map(json.loads, r.err.splitlines()) if o["type"] == "progress"]
    assert len(ticks) >= 5, r.err
    assert all(t["total"] == 30 and t["total_known"] for t in ticks)
    done = [t["done"] for t in ticks]
    assert done == sorted(done) and done[-1] >= 20
    late = ticks[-1]
    assert late["docs_per_minute"] > 0 and late["eta_seconds"] is not None
    assert late["cost_usd"] == pytest.approx(late["done"] * 10 * 100e-6, rel=0.2)
    assert late["estimated_total_cost_usd"] == pytest.approx(30 * 10 * 100e-6, rel=0.01)


def test_progress_plain_lines_when_not_a_terminal_and_quiet_prints_nothing(tmp_path, counting):
    args = ["run", "--manifest", manifest(tmp_path, 12), "-p", counting, "--set", "sleep_us=500000",
            "-w", "1", "-O", "progress.interval=100ms"]
    r = run(*args)  # standard error is a pipe: auto means plain
    assert r.code == 0, r
    lines = [l for l in r.err.splitlines() if "docs/min" in l and "documents in" not in l]  # not the summary
    assert 1 <= len(lines) <= 3, r.err  # one every 5 seconds over ~6 s
    assert lines[0].startswith("batchhost: ") and "/12 " in lines[0] and "ETA" in lines[-1]

    quiet = run(*args[:-4], "--quiet")
    assert quiet.code == 0 and quiet.err == "", quiet


def test_progress_live_redraws_one_line(tmp_path, counting):
    proc = subprocess.run([str(BATCHHOST), "run", "--manifest", str(manifest(tmp_path, 20)), "-p", str(counting),
                           "--set", "sleep_us=50000", "-w", "1", "--progress", "live"], capture_output=True)
    assert proc.returncode == 0, proc
    err = proc.stderr.decode()
    assert err.count("\r") >= 3 and "\x1b[K" in err, err
    assert err.count("\n") == 1  # only the summary ends a line
    assert err.rsplit("\r", 1)[1].startswith("\x1b[Kbatchhost: 20 of 20 documents")  # the line is cleared first
