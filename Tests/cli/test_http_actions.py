"""batchhost run --http --http-token: operator actions (retry failed
documents, pause and resume) and the history of each document's attempts."""
import json
import re
import sqlite3
import time
import urllib.error
import urllib.parse

import pytest

from conftest import ROOT, run, wait_for
from devtools import Browser
from test_http import ServedRun

# Fails bad-* (one error) and worse-* (another) on their first call only,
# noting each call in calls.log; holds zz-last until the file `release`
# exists beside the documents' directory, and every call while `hold`
# exists; flaky-* asks for a retry twice (exit 75), then succeeds.
PROCESSOR = """#!/bin/sh
name=$(basename "$1")
top="$(dirname "$1")/.."
while [ -e "$top/hold" ]; do sleep 0.02; done
echo "$name" >> "$top/calls.log"
first_call() { [ ! -e "$top/marks/$name" ] && touch "$top/marks/$name"; }
case "$name" in
  bad-*) if first_call; then echo "cannot parse header" >&2; exit 3; fi ;;
  worse-*) if first_call; then echo "unsupported encoding" >&2; exit 4; fi ;;
  flaky-*) n=$(grep -c "^$name\\$" "$top/calls.log")
           if [ "$n" -le 2 ]; then echo "try $n: service busy" >&2; exit 75; fi ;;
  zz-last*) while [ ! -e "$top/release" ]; do sleep 0.02; done ;;
esac
cat "$1"
"""

DOCS = ["doc-1.txt", "doc-2.txt", "doc-3.txt", "bad-1.txt", "bad-2.txt", "worse-1.txt", "flaky-1.txt", "zz-last.txt"]


@pytest.fixture
def started(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "marks").mkdir()
    for name in DOCS:
        (docs / name).write_text(f"{name}\n")
    script = tmp_path / "proc.sh"
    script.write_text(PROCESSOR)
    script.chmod(0o755)
    runs = []

    def start(*extra):
        r = ServedRun(tmp_path, docs, "-w", "2", "--progress", "off", "-o", tmp_path / "out.jsonl",
                      "--option", "retry.base=10ms", "--http", "0", *extra, "--", script, "{}")
        runs.append(r)
        return r

    yield start
    (tmp_path / "release").touch()
    for r in runs:
        r.stop()


def calls(tmp_path):
    log = tmp_path / "calls.log"
    lines = log.read_text().split() if log.exists() else []
    return {name: lines.count(name) for name in DOCS}


def settled(r, failed):
    """Waits until every document but the held one finished, `failed` of them failed, and the journal has them."""
    def check():
        s = r.status()
        t = s["totals"]
        return (t["finished"] == len(DOCS) - 1 and t["failed"] == failed and t["in_flight"] == 1
                and sum(g["count"] for g in s["failures"]) == failed and s)
    return wait_for(check, what=f"{len(DOCS) - 1} documents finished, {failed} failed")


def test_a_document_run_again_while_the_progress_is_shown_does_not_stop_the_run(started, tmp_path):
    # A retry lowers the count of documents done while one runs again: the
    # progress rate used to subtract the counts as unsigned numbers and
    # stopped batchhost (arithmetic overflow) at the next tick.
    r = started("--http-token", "s3cret", "--progress", "plain")
    settled(r, failed=3)
    (tmp_path / "hold").touch()  # the document run again waits
    code, answer = r.post("/api/retry", token="s3cret", id=str(tmp_path / "docs" / "bad-1.txt"))
    assert code == 200 and answer["matched"] == 1
    wait_for(lambda: r.status()["totals"]["in_flight"] == 2, what="bad-1 running again")
    time.sleep(1.5)  # progress ticks while it is held
    assert r.proc.poll() is None, r.stderr_path.read_text()[-2000:]
    assert r.status()["totals"]["failed"] == 2
    (tmp_path / "hold").unlink()
    settled(r, failed=2)
    (tmp_path / "release").touch()
    assert r.wait() == 1  # worse-1 and bad-2 still failed
    assert "batchhost: " in r.stderr_path.read_text()


def group(status, error):
    return next(g for g in status["failures"] if g["error"] == error)


def test_retrying_an_error_group_with_the_token_reruns_exactly_those_documents(started, tmp_path):
    r = started("--http-token", "s3cret")
    s = settled(r, failed=3)
    assert s["actions"] == ["cancel", "pause", "resume", "retry"]
    bad = group(s, "exit status 3: cannot parse header")
    assert bad["count"] == 2
    selection = {"stage": bad["stage"], "error": bad["error"]}

    assert r.post("/api/retry", **selection)[0] == 401
    code, answer = r.post("/api/retry", token="wrong", **selection)
    assert code == 403 and "wrong token" in answer["error"]
    code, answer = r.post("/api/retry", token="s3cret")
    assert code == 400 and "id=ID" in answer["error"]
    with pytest.raises(urllib.error.HTTPError) as as_get:
        r.get("/api/retry")
    assert as_get.value.code == 405
    assert calls(tmp_path)["bad-1.txt"] == 1  # nothing re-ran

    code, answer = r.post("/api/retry", token="s3cret", **selection)
    assert code == 200 and answer["matched"] == 2 and sorted(answer["ids"]) == [str(tmp_path / "docs" / n) for n in ("bad-1.txt", "bad-2.txt")]
    settled(r, failed=1)
    ran = calls(tmp_path)
    assert ran == {**ran, "bad-1.txt": 2, "bad-2.txt": 2, "worse-1.txt": 1, "doc-1.txt": 1, "flaky-1.txt": 3}
    # Run again already: nothing left in that group.
    assert r.post("/api/retry", token="s3cret", **selection)[0] == 404

    (tmp_path / "release").touch()
    assert r.wait() == 1  # worse-1 still failed
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(str(tmp_path / "docs" / name) for name in DOCS)
    by_name = {line["id"].rsplit("/", 1)[1]: line for line in lines}
    assert by_name["bad-1.txt"]["status"] == "ok" and by_name["worse-1.txt"]["status"] == "failed"
    journal = sqlite3.connect(tmp_path / "out.jsonl.journal")
    rows = dict(journal.execute("SELECT id, attempts FROM documents WHERE id LIKE '%bad-%'").fetchall())
    assert sorted(rows.values()) == [2, 2]  # attempts go on counting
    assert "0 failed" not in r.stderr and "1 failed" in r.stderr


def test_a_run_killed_after_a_retry_resumes_with_one_line_per_document(started, tmp_path):
    r = started("--http-token", "s3cret")
    settled(r, failed=3)
    assert r.post("/api/retry", token="s3cret", all="true")[1]["requeued"] == 3
    settled(r, failed=0)
    # The journal commits in groups: wait until it holds the new results.
    journal = tmp_path / "out.jsonl.journal"
    wait_for(lambda: sqlite3.connect(journal).execute("SELECT count(*) FROM documents WHERE status = 3").fetchone()[0] == 0,
             "the retried results in the journal")
    r.proc.kill()
    r.proc.wait()
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == len(DOCS) - 1 + 3  # old and new lines
    (tmp_path / "release").touch()
    resumed = run("run", tmp_path / "docs", "--resume", "-w", "2", "--progress", "off", "-o", tmp_path / "out.jsonl",
                  "--option", "retry.base=10ms", "--", tmp_path / "proc.sh", "{}")
    assert resumed.code == 0, resumed.err
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(line["id"].rsplit("/", 1)[1] for line in lines) == sorted(DOCS)
    assert all(line["status"] == "ok" for line in lines)


def test_one_document_or_all_failed_can_be_retried(started, tmp_path):
    r = started("--http-token", "s3cret")
    settled(r, failed=3)
    worse = str(tmp_path / "docs" / "worse-1.txt")
    code, answer = r.post("/api/retry", token="s3cret", id=worse)
    assert code == 200 and answer["ids"] == [worse]
    settled(r, failed=2)
    code, answer = r.post("/api/retry", token="s3cret", all="true")
    assert code == 200 and answer["requeued"] == 2
    settled(r, failed=0)
    (tmp_path / "release").touch()
    assert r.wait() == 0
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == len(DOCS)


def test_without_a_token_the_server_is_read_only_and_nothing_reruns(started, tmp_path):
    r = started()
    s = settled(r, failed=3)
    code, answer = r.post("/api/retry", token="s3cret", all="true")
    assert code == 403 and "read-only" in answer["error"]
    assert r.post("/api/pause")[0] == 403
    assert r.json("/api/status")["read_only"] is True and s["actions"] == []
    assert calls(tmp_path)["bad-1.txt"] == 1 and r.status()["totals"]["failed"] == 3


def test_pause_stops_dispatch_until_resumed(started, tmp_path):
    (tmp_path / "hold").touch()
    r = started("--http-token", "s3cret", "-w", "1")
    assert r.post("/api/pause", token="s3cret") == (200, {"paused": True})
    (tmp_path / "hold").unlink()
    paused = wait_for(lambda: (s := r.status())["totals"]["in_flight"] == 0 and s, what="calls in flight to end")
    assert paused["paused"] is True and paused["state"] == "running"
    time.sleep(0.3)  # nothing starts meanwhile
    assert r.status()["totals"]["finished"] == paused["totals"]["finished"] < len(DOCS)
    assert r.post("/api/resume", token="s3cret") == (200, {"paused": False})
    (tmp_path / "release").touch()
    assert r.wait() == 1  # worse and bad fail once, and are not retried here
    assert f"{len(DOCS)} of {len(DOCS)} documents" in r.stderr


def history(r, tmp_path, name):
    return r.json("/api/documents/" + urllib.parse.quote(str(tmp_path / "docs" / name)))["attempt_history"]


def test_each_attempt_of_a_document_is_told_with_its_worker_error_and_stderr(started, tmp_path):
    r = started("--http-token", "s3cret")
    settled(r, failed=3)
    flaky = history(r, tmp_path, "flaky-1.txt")
    assert [(a["attempt"], a["stage"], a["outcome"]) for a in flaky] == [
        (1, "exec", "retry"), (2, "exec", "retry"), (3, "exec", "ok")]
    assert [a["error"] for a in flaky] == ["try 1: service busy", "try 2: service busy", None]
    assert [a["stderr"] for a in flaky[:2]] == ["try 1: service busy", "try 2: service busy"]
    assert flaky[0]["started_at"] < flaky[1]["started_at"] < flaky[2]["started_at"] <= time.time()
    assert all(re.fullmatch(r".+:\d+/\d+", a["worker"]) and a["duration_ms"] > 0 for a in flaky), flaky
    # A first attempt that succeeded is told by the document's row.
    [clean] = history(r, tmp_path, "doc-1.txt")
    assert clean["attempt"] == 1 and clean["outcome"] == "ok" and clean["worker"] is None
    # An operator's retry adds to the history: the attempts go on.
    assert r.post("/api/retry", token="s3cret", id=str(tmp_path / "docs" / "bad-1.txt"))[0] == 200
    settled(r, failed=2)
    bad = history(r, tmp_path, "bad-1.txt")
    assert [(a["attempt"], a["outcome"], a["error"]) for a in bad] == [
        (1, "failed", "exit status 3: cannot parse header"), (2, "ok", None)]
    assert bad[0]["stderr"] == "cannot parse header"


def test_the_page_retries_a_planted_failure_with_the_token(started, tmp_path):
    r = started("--http-token", "s3cret")
    settled(r, failed=3)
    with Browser(r.url + "?token=s3cret") as page:
        failure_rows = "[...document.querySelectorAll('#failures tr')].map(row => row.innerText)"
        rows = wait_for(lambda: len(found := page.evaluate(failure_rows)) == 3 and found, what="the failures table")
        assert any("exit status 4: unsupported encoding" in row and "Retry 1" in row for row in rows), rows
        assert page.evaluate("document.getElementById('mode').innerText") == "operator actions enabled"
        # The page asks before acting: say yes, saying what it asked.
        page.evaluate("""window.confirm = (question) => { window.asked = question; return true };
                         [...document.querySelectorAll('#failures tr')]
                         .find(row => row.innerText.includes('unsupported encoding'))
                         .querySelector('button.retry').click()""")
        assert "Run the 1 document that failed with “exit status 4: unsupported encoding” again?" == page.evaluate("window.asked")
        settled(r, failed=2)
        assert calls(tmp_path)["worse-1.txt"] == 2
        wait_for(lambda: "1 of 1 document put back" in page.evaluate("document.getElementById('notice').innerText"),
                 what="the page to say what it retried")
        screenshot = ROOT / ".build" / "http-page-retry.png"
        screenshot.unlink(missing_ok=True)
        page.screenshot(screenshot)
        assert screenshot.stat().st_size > 10_000


def test_a_document_added_from_memory_is_not_retried_its_content_is_gone(tmp_path):
    """A manifest's "content" documents are held in memory only until they end."""
    (tmp_path / "file-bad.txt").write_text("bad\n")
    manifest = tmp_path / "docs.jsonl"
    manifest.write_text("\n".join(json.dumps(entry) for entry in [
        {"id": "mem-bad", "content": "bad\n"}, {"path": "file-bad.txt", "id": "file-bad"}, {"id": "held", "content": "hold\n"}]) + "\n")
    release = tmp_path / "release"
    script = f'c=$(cat "$1"); case "$c" in bad) exit 3;; hold) while [ ! -e {release} ]; do sleep 0.02; done;; esac; echo "$c"'
    r = ServedRun(tmp_path, "--manifest", manifest, "-w", "2", "--progress", "off", "-o", tmp_path / "out.jsonl", "--http", "0",
                  "--http-token", "s3cret", "--option", "retry.attempts=1", "--", "sh", "-c", script, "sh", "{}")
    try:
        wait_for(lambda: sum(g["count"] for g in r.status()["failures"]) == 2, "both failures in the journal")
        code, answer = r.post("/api/retry", token="s3cret", id="mem-bad")
        assert code == 400 and "'mem-bad'" in answer["error"] and "content is not kept" in answer["error"]
        code, answer = r.post("/api/retry", token="s3cret", all="true")
        assert code == 200 and answer["ids"] == ["file-bad"] and answer["content_not_kept"] == ["mem-bad"]
    finally:
        release.touch()
    r.wait()
    lines = {line["id"]: line for line in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert (lines["file-bad"]["attempts"], lines["mem-bad"]["attempts"]) == (2, 1)
