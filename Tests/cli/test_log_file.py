"""batchhost run --log-file: a line per event, text or JSON, secrets masked."""
import json
import re

import pytest

from conftest import run
from test_http import ServedRun, wait_for

KEY = "sk-PLANTED-4f1d2e9a"

# Fails bad-* (printing the key it was given), asks flaky-* for a retry
# once (exit 75), and processes the rest.
PROCESSOR = """#!/bin/sh
doc="$1"; key="$2"
case "$(basename "$doc")" in
  bad-*) echo "rejected with ${key#--api-key=}" >&2; exit 3 ;;
  flaky-*) if [ ! -e "$doc.tried" ]; then touch "$doc.tried"; echo "busy, try later" >&2; exit 75; fi ;;
esac
cat "$doc"
"""
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
def planted(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for name in ("a.txt", "b.txt", "bad-1.txt", "flaky-1.txt"):
        (d / name).write_text(name + "\n")
    script = tmp_path / "proc.sh"
    script.write_text(PROCESSOR)
    script.chmod(0o755)
    return d, script


def args(tmp_path, planted, *extra):
    docs, script = planted
    return ["run", docs, "--glob", "*.txt", "-o", tmp_path / "out.jsonl", "-O", "retry.base=10ms", "-O", "retry.jitter=false", "--progress", "off",
            *extra, "--", script, "{}", f"--api-key={KEY}"]


def test_json_lines_carry_the_failures_and_retries_of_a_run(tmp_path, planted):
    log = tmp_path / "run.log"
    r = run(*args(tmp_path, planted, "--log-file", log, "--log-format", "json"))
    assert r.code == 1, r
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(re.fullmatch(ISO_MS, line["time"]) and line["batch"] == "out.jsonl" for line in lines)
    assert lines[0]["message"] == "run started" and "--log-format json" in lines[0]["command"]
    assert lines[-1]["message"] == "run ended" and lines[-1]["failed"] == "1" and lines[-1]["retries"] == "1"
    failures = [line for line in lines if line["level"] == "error"]
    assert len(failures) == 1 and failures[0]["document"].endswith("bad-1.txt") and failures[0]["stage"] == "exec"
    assert failures[0]["message"].startswith("failed: exit status 3: rejected with")
    retries = [line for line in lines if line["message"].startswith("retry:")]
    assert len(retries) == 1 and retries[0]["document"].endswith("flaky-1.txt")
    assert retries[0]["attempt"] == "2" and float(retries[0]["delay_seconds"]) > 0
    assert "busy, try later" in retries[0]["message"]


def test_text_lines_have_time_level_batch_document_and_stage(tmp_path, planted):
    log = tmp_path / "run.log"
    assert run(*args(tmp_path, planted, "--log-file", log)).code == 1
    lines = log.read_text().splitlines()
    assert all(re.match(ISO_MS + r" (DEBUG|INFO|WARNING|ERROR) batch=out\.jsonl ", line) for line in lines), lines
    assert any(re.search(r" ERROR batch=out\.jsonl document=\S+bad-1\.txt stage=exec failed: exit status 3", line)
               for line in lines)
    assert any(" WARNING " in line and "flaky-1.txt" in line and "retry:" in line and "delay_seconds=" in line
               for line in lines)


def test_a_planted_key_never_appears_in_logs_metrics_or_status(tmp_path, planted):
    docs, _ = planted
    (docs / "zz-held.txt").write_text("held\n")
    held = docs.parent / "proc-held.sh"
    held.write_text(planted[1].read_text().replace(
        "esac", '  zz-held*) while [ ! -e "$(dirname "$doc")/../release" ]; do sleep 0.02; done ;;\nesac'))
    held.chmod(0o755)
    log = tmp_path / "run.log"
    arguments = args(tmp_path, planted, "--log-file", log, "--http", "0", "--http-token", "tok-" + KEY)
    arguments[arguments.index(planted[1])] = held
    r = ServedRun(tmp_path, *arguments[1:])
    try:
        wait_for(lambda: r.json("/api/status", token="tok-" + KEY)["batches"][0]["failures"], what="the failure")
        served = r.get("/metrics", token="tok-" + KEY) + r.get("/api/status", token="tok-" + KEY)
        served += r.get("/api/documents?status=failed", token="tok-" + KEY)
        assert "rejected with [redacted]" in served
        (tmp_path / "release").touch()
        assert r.wait() == 1
    finally:
        (tmp_path / "release").touch()
        r.stop()
    logged = log.read_text()
    assert "rejected with [redacted]" in logged and "--api-key=[redacted]" in logged
    assert KEY not in logged and KEY not in served


def test_a_bad_log_format_or_file_is_a_usage_error(tmp_path, planted):
    r = run(*args(tmp_path, planted, "--log-file", tmp_path / "x.log", "--log-format", "xml"))
    assert r.code == 2 and "--log-format 'xml': expected text or json" in r.err
    r = run(*args(tmp_path, planted, "--log-file", tmp_path / "no" / "such" / "dir.log"))
    assert r.code == 2 and "batchhost: error: --log-file" in r.err and "cannot open it for writing" in r.err
