"""batchhost run --http: the status server, its metrics, API and page."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import BATCHHOST, ROOT, run, wait_for

# Sleeps a little per document (and waits while the file `pause` exists
# beside the documents' directory); fails the bad ones; holds the last one
# until the test creates the file `release` beside the documents.
PROCESSOR = """#!/bin/sh
case "$(basename "$1")" in
  bad-*) echo "cannot parse header" >&2; exit 3 ;;
  worse-*) echo "unsupported encoding" >&2; exit 4 ;;
  zz-last*) while [ ! -e "$(dirname "$1")/release" ]; do sleep 0.02; done ;;
  *) while [ -e "$(dirname "$1")/../pause" ]; do sleep 0.02; done; sleep "${DELAY:-0.02}" ;;
esac
cat "$1"
"""



def post_form(url, token=None, **fields):
    """POSTs an action with `fields` as a form, the token as a Bearer
    header; returns (status, JSON answer)."""
    request = urllib.request.Request(url, method="POST", data=urllib.parse.urlencode(fields).encode())
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class ServedRun:
    """A batchhost run with --http in the background; its stderr in a file."""

    def __init__(self, tmp_path, *args, env=None):
        self.stderr_path = tmp_path / "stderr.txt"
        full_env = dict(os.environ, **(env or {}))
        full_env.pop("BATCHCORE_PLUGIN_PATH", None)
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen([str(BATCHHOST), "run", *map(str, args)], stdout=subprocess.DEVNULL,
                                         stderr=stderr, env=full_env)
        found = wait_for(self._address, what="the server's address on stderr")
        self.url = found.group(1)

    def _address(self):
        found = re.search(r"serving (http://[\d.]+:\d+/)", self.stderr)
        if not found and self.proc.poll() is not None:
            pytest.fail(f"batchhost exited ({self.proc.returncode}) without serving:\n{self.stderr}")
        return found

    @property
    def stderr(self):
        return self.stderr_path.read_text()

    def get(self, path, token=None):
        request = urllib.request.Request(self.url + path.lstrip("/"))
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.read().decode()
        except urllib.error.URLError as error:
            if isinstance(error, urllib.error.HTTPError):
                raise
            # Say why the server is gone: the run's exit status and its stderr.
            pytest.fail(f"GET {path}: {error.reason}; batchhost exit status {self.proc.poll()}, stderr:\n{self.stderr}")

    def json(self, path, token=None):
        return json.loads(self.get(path, token))

    def status(self):
        return self.json("/api/status")["batches"][0]

    def post(self, path, token=None, **fields):
        return post_form(self.url + path.lstrip("/"), token, **fields)

    def wait(self, timeout=120):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def batch_dir(tmp_path):
    """40 documents, 2 planted failures of two kinds and a last one held until released."""
    d = tmp_path / "docs"
    d.mkdir()
    for i in range(40):
        (d / f"doc-{i:02d}.txt").write_text(f"document {i}\n")
    (d / "bad-1.txt").write_text("x\n")
    (d / "bad-2.txt").write_text("x\n")
    (d / "worse-1.txt").write_text("x\n")
    (d / "zz-last.txt").write_text("last\n")
    script = tmp_path / "proc.sh"
    script.write_text(PROCESSOR)
    script.chmod(0o755)
    return d


@pytest.fixture
def served(tmp_path, batch_dir):
    runs = []

    def start(*extra, env=None):
        served_run = ServedRun(tmp_path, batch_dir, "-w", "2", "--progress", "off", "-o", tmp_path / "out.jsonl",
                               "--http", "0", *extra, "--", tmp_path / "proc.sh", "{}", env=env)
        runs.append(served_run)
        return served_run

    yield start
    (batch_dir / "release").touch()
    for served_run in runs:
        served_run.stop()


def held(served_run):
    """Waits until every document but the held last one has finished."""
    return wait_for(lambda: (s := served_run.status())["totals"]["finished"] == 43 and s,
                    what="all documents but the last to finish")


def test_status_moves_mid_run_and_agrees_with_the_final_summary(served, batch_dir):
    r = served(env={"DELAY": "0.05"})
    first = r.status()
    assert first["state"] == "running"
    wait_for(lambda: r.status()["totals"]["finished"] > first["totals"]["finished"], what="progress")
    s = held(r)
    assert s["totals"] == {**s["totals"], "total": 44, "ok": 40, "failed": 3, "in_flight": 1, "queued": 0}
    metrics = r.get("/metrics")
    assert 'batchcore_documents_finished_total{batch="out.jsonl",tenant="default",status="ok"} 40' in metrics
    assert 'batchcore_documents_in_flight{batch="out.jsonl",tenant="default"} 1' in metrics
    (batch_dir / "release").touch()
    assert r.wait() == 1
    # The summary counts the held document on top of what the server showed.
    assert "44 of 44 documents" in r.stderr and "41 ok, 0 partial, 3 failed" in r.stderr


def test_metrics_pass_promtool_and_carry_no_document_ids(served):
    if not shutil.which("promtool"):
        pytest.fail("promtool is missing: scripts/install-deps installs Debian's prometheus package")
    r = served()
    held(r)
    metrics = r.get("/metrics")
    check = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for series in ['batchcore_retries_total{batch="out.jsonl",tenant="default"} 0', 'batchcore_cost_usd_total{batch="out.jsonl",tenant="default"} 0',
                   'batchcore_budget_spent_ratio{batch="out.jsonl",tenant="default"} 0',
                   'batchcore_documents_finished_total{batch="out.jsonl",tenant="default",status="partial"} 0',
                   'batchcore_stage_duration_seconds_count{batch="out.jsonl",tenant="default",stage="exec"} 43']:
        assert series in metrics
    assert "batchcore_batch_estimated_completion_timestamp_seconds" in metrics
    assert re.search(r'batchcore_batch_last_success_timestamp_seconds\{batch="out.jsonl",tenant="default"\} 1\d{9}', metrics)
    assert "doc-0" not in metrics and "bad-1" not in metrics


def test_failures_are_grouped_by_error_and_documents_page_from_the_journal(served):
    r = served()
    s = held(r)
    # The journal commits in groups: wait until it holds the failures.
    groups = wait_for(lambda: sum(g["count"] for g in r.status()["failures"]) == 3 and r.status()["failures"],
                      what="the failures in the journal")
    assert [(g["error"], g["count"]) for g in groups] == [
        ("exit status 3: cannot parse header", 2), ("exit status 4: unsupported encoding", 1)]
    assert all("bad-" in e for e in groups[0]["examples"]) and groups[0]["stage"] == "exec"
    assert s["stages"][0]["label"] == "exec"

    first = r.json("/api/documents?status=failed&limit=2")
    assert [Path(d["id"]).name for d in first["documents"]] == ["bad-1.txt", "bad-2.txt"]
    after = urllib.request.quote(first["next"])
    second = r.json(f"/api/documents?status=failed&limit=2&after={after}")
    assert [Path(d["id"]).name for d in second["documents"]] == ["worse-1.txt"] and second["next"] is None
    found = r.json("/api/documents?q=worse")
    assert [Path(d["id"]).name for d in found["documents"]] == ["worse-1.txt"]
    one = r.json("/api/documents/" + urllib.request.quote(first["documents"][0]["id"]))
    assert one["status"] == "failed" and one["error"] == "exit status 3: cannot parse header" and one["attempts"] == 1
    with pytest.raises(urllib.error.HTTPError) as missing:
        r.get("/api/documents/no-such-document")
    assert missing.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as bad:
        r.get("/api/documents?status=weird")
    assert bad.value.code == 400 and "expected ok, partial, failed, skipped, done, pending or running" in bad.value.read().decode()


def test_failures_without_a_journal_are_kept_in_memory(served):
    r = served("--no-checkpoint")
    groups = held(r)["failures"]
    assert sorted((g["error"], g["count"]) for g in groups) == [
        ("exit status 3: cannot parse header", 2), ("exit status 4: unsupported encoding", 1)]
    with pytest.raises(urllib.error.HTTPError) as no_journal:
        r.get("/api/documents")
    assert no_journal.value.code == 404 and "--checkpoint" in no_journal.value.read().decode()


def test_cancel_needs_the_token(served):
    r = served("--http-token", "s3cret")
    held(r)
    assert r.status()["state"] == "running"
    code, answer = r.post("/api/cancel")
    assert code == 401 and "token" in answer["error"]
    code, answer = r.post("/api/cancel", token="wrong")
    assert code == 403 and "wrong token" in answer["error"]
    code, answer = r.post("/api/cancel", token="s3cret")
    assert code == 200 and answer == {"cancelled": True}
    assert r.status()["state"] in ("running", "cancelled")


def test_a_read_only_server_refuses_actions(served):
    r = served()
    held(r)
    assert r.json("/api/status")["read_only"] is True
    code, answer = r.post("/api/cancel", token="anything")
    assert code == 403 and "read-only" in answer["error"]
    assert r.status()["state"] == "running"


def test_off_loopback_a_token_is_needed_for_every_request_or_a_warning_is_printed(tmp_path, batch_dir):
    (batch_dir / "release").touch()
    warned = ServedRun(tmp_path, batch_dir, "--http", "0.0.0.0:0", "--no-checkpoint", "-o", "/dev/null", "--", "cat", "{}")
    assert warned.wait() == 0
    assert "warning: serving http on 0.0.0.0 without --http-token" in warned.stderr
    (batch_dir / "release").unlink()
    guarded = ServedRun(tmp_path, batch_dir, "--http", "0.0.0.0:0", "--http-token", "tok", "--no-checkpoint",
                        "-o", "/dev/null", "--", tmp_path / "proc.sh", "{}")
    try:
        assert "warning" not in guarded.stderr
        with pytest.raises(urllib.error.HTTPError) as refused:
            guarded.get("/api/status")
        assert refused.value.code == 401
        assert guarded.json("/api/status", token="tok")["batches"][0]["state"] in ("running", "finished")
    finally:
        (batch_dir / "release").touch()
        guarded.stop()


def test_a_bad_address_or_a_busy_port_is_a_usage_error(tmp_path, batch_dir):
    r = run("run", batch_dir, "--http", "nonsense", "-o", "/dev/null", "--", "cat", "{}")
    assert r.code == 2 and "batchhost: error: --http 'nonsense': expected [HOST:]PORT" in r.err
    (batch_dir / "release").touch()
    busy = ServedRun(tmp_path, batch_dir, "--http", "0", "--no-checkpoint", "-o", "/dev/null", "--",
                     tmp_path / "proc.sh", "{}", env={"DELAY": "5"})
    try:
        port = busy.url.rsplit(":", 1)[1].strip("/")
        r = run("run", batch_dir, "--http", port, "-o", "/dev/null", "--", "cat", "{}")
        assert r.code == 2 and f"cannot serve http on 127.0.0.1:{port}" in r.err
    finally:
        busy.stop()


def test_the_page_and_its_files_are_served_from_the_binary(served):
    r = served()
    page = r.get("/")
    assert '<script src="/page.js"></script>' in page
    assert "setInterval(refresh" in r.get("/page.js")
    assert ".bar" in r.get("/page.css")
    with pytest.raises(urllib.error.HTTPError) as missing:
        r.get("/nothing-here")
    assert missing.value.code == 404


def chromium(*args):
    browser = shutil.which("chromium")
    if not browser:
        pytest.fail("chromium is missing: scripts/install-deps installs Debian's chromium package")
    # As root chromium needs --no-sandbox; the page needs no network but the server's.
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def shown_progress(dom):
    found = re.search(r'<div class="label">(\d+) of 44', dom)
    assert found, dom
    return int(found.group(1))


def test_the_page_in_headless_chromium_shows_progress_moving_and_a_planted_failure(served, tmp_path):
    pause = tmp_path / "pause"
    pause.touch()
    r = served()
    first = shown_progress(chromium("--dump-dom", r.url))
    assert "read-only (started without --http-token)" in chromium("--dump-dom", r.url)
    pause.unlink()
    wait_for(lambda: r.status()["totals"]["finished"] > first, what="progress")
    pause.touch()
    wait_for(lambda: r.status()["failures"], what="the failures in the journal")
    dom = chromium("--dump-dom", r.url)
    assert shown_progress(dom) > first
    failures = re.search(r'<table id="failures">.*?</table>', dom, re.S)
    assert failures and "exit status 3: cannot parse header" in failures.group(0) and "bad-1.txt" in failures.group(0)
    screenshot = ROOT / ".build" / "http-page.png"
    screenshot.unlink(missing_ok=True)
    chromium(f"--screenshot={screenshot}", "--window-size=1200,900", r.url)
    assert screenshot.stat().st_size > 10_000
    pause.unlink()


def test_the_embedded_page_is_up_to_date():
    generated = ROOT / "Sources" / "batchhost" / "HTTP" / "PageFiles.swift"
    before = generated.read_text()
    subprocess.run([ROOT / "scripts" / "embed-page"], check=True)
    assert generated.read_text() == before, "PageFiles.swift was stale: scripts/embed-page rewrote it; rebuild and commit it"


# ---- a finished journal of 1,000,000 documents ----------------------------

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million_journal(tmp_path_factory):
    """A journal as batchhost writes it (its schema from a real run), filled
    with a million rows by sqlite3: every tenth failed, of two errors."""
    d = tmp_path_factory.mktemp("million")
    (d / "one.txt").write_text("one\n")
    journal = d / "big.journal"
    made = run("run", d / "one.txt", "--checkpoint", journal, "-o", "/dev/null", "--", "cat", "{}")
    assert made.code == 0, made
    errors = ["exit status 3: cannot parse header", "exit status 4: unsupported encoding"]
    rows = ((f"doc-{i:07d}", i + 10, f"/data/doc-{i:07d}.txt", 3 if i % 10 == 0 else 1, 1,
             errors[i % 20 == 0] if i % 10 == 0 else None, 0 if i % 10 == 0 else None,
             "exec" if i % 10 == 0 else None, 12.5, 1.0e9 + i, 1) for i in range(MILLION))
    db = sqlite3.connect(journal)
    db.execute("PRAGMA synchronous=OFF")
    with db:
        db.executemany("""INSERT INTO documents (id, out_seq, path, status, attempts, error, failed_stage,
                          failed_stage_label, duration_ms, finished_at, run) VALUES (?,?,?,?,?,?,?,?,?,?,?)""", rows)
    db.close()
    return journal


def resident_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def test_pages_of_a_million_documents_are_fast_and_memory_stays_flat(tmp_path, million_journal):
    held_dir = tmp_path / "held"
    held_dir.mkdir()
    (held_dir / "zz-last.txt").write_text("last\n")
    script = tmp_path / "proc.sh"
    script.write_text(PROCESSOR)
    script.chmod(0o755)
    # Resuming the journal with one more document, held: the server reads the million rows.
    # (Its output goes to standard output, which the resume rewrites from the journal.)
    r = ServedRun(tmp_path, held_dir / "zz-last.txt", "--checkpoint", million_journal, "--resume", "--force-resume",
                  "-o", "-", "--progress", "off", "--http", "0", "--", script, "{}")
    try:
        def pages(count, query):
            times, after = [], "doc-0400000"
            for _ in range(count):
                began = time.perf_counter()
                page = r.json(f"/api/documents?{query}&limit=100&after={after}")
                times.append(time.perf_counter() - began)
                assert len(page["documents"]) == 100
                after = page["next"]
            return sorted(times)

        pages(20, "status=failed")  # warm the page cache
        before = resident_kib(r.proc.pid)
        failed = pages(300, "status=failed")
        every = pages(300, "status=ok")
        plain = pages(300, "stage=exec")
        after = resident_kib(r.proc.pid)
        for times in (failed, every, plain):
            assert times[len(times) // 2] < 0.1, f"median page {times[len(times) // 2] * 1000:.0f} ms"
        assert after - before < 20_000, f"resident memory grew from {before} to {after} KiB over 900 pages"
        deep = r.json(f"/api/documents/doc-0999990")
        assert deep["status"] == "failed" and deep["error"] == "exit status 3: cannot parse header"
        groups = r.status()["failures"]
        assert [(g["error"], g["count"]) for g in groups] == [
            ("exit status 3: cannot parse header", 50_000), ("exit status 4: unsupported encoding", 50_000)]
    finally:
        (held_dir / "release").touch()
        r.stop()


def test_rate_limit_waits_and_the_limiter_show(served):
    r = served("--rate-limit", "40/s")
    s = held(r)
    assert s["limiter"]["limits"] == "40/s requests" and s["rate_limit"]["wait_seconds"] > 0
    waited = re.search(r'batchcore_rate_limit_wait_seconds_total\{batch="out.jsonl",tenant="default"\} (\S+)', r.get("/metrics"))
    assert waited and float(waited.group(1)) > 0
