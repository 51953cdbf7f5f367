"""batchhost dashboard --redis URL --http PORT (every batch in Redis, with
operator actions) and batchhost worker --http PORT (the worker's own batches)."""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import BATCHHOST, run, wait_for
from devtools import Browser
from distributed import Worker, assert_each_once, collect, committed, make_docs, status, submit, wait_finished
from distributed import kill_leftover_workers  # noqa: F401 (autouse fixture)
from redis_server import RedisServer
from test_http import post_form


@pytest.fixture(scope="module")
def server():
    with RedisServer() as redis:
        yield redis


class Served:
    """A background batchhost command that serves http; its stderr in a file."""

    def __init__(self, tmp_path, *args):
        self.stderr_path = tmp_path / f"{args[0]}.stderr"
        env = dict(os.environ)
        env.pop("BATCHCORE_PLUGIN_PATH", None)
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen([str(BATCHHOST), *map(str, args)], stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        self.url = wait_for(self._address, what="the server's address").group(1)

    def _address(self):
        text = self.stderr_path.read_text()
        if self.proc.poll() is not None:
            pytest.fail(f"batchhost exited ({self.proc.returncode}) without serving:\n{text}")
        return re.search(r"serving (http://[\d.]+:\d+/)", text)

    def get(self, path):
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as answer:
            return answer.read().decode()

    def status(self):
        return json.loads(self.get("/api/status"))

    def act(self, path, token=None, **fields):
        return post_form(self.url + path.lstrip("/"), token, **fields)

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=30)


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(*args):
        served = Served(tmp_path, *args)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


def batch_named(status, name):
    return next(b for b in status["batches"] if b["name"] == name)


def test_the_dashboard_shows_every_batch_with_its_workers_and_retries_failures_with_the_token(server, serve, tmp_path):
    docs = make_docs(tmp_path / "docs", 6)
    fixed = tmp_path / "fixed"
    script = f'case "$1" in *d0000[0-1].txt) test -e {fixed} || exit 3;; esac; cat "$1"'
    failing = submit(server.url, str(docs), "-O", "retry.attempts=1", "--", "sh", "-c", script, "sh", "{}")
    waiting = submit(server.url, str(make_docs(tmp_path / "more", 2)), "--tenant", "nobody-serves-this", "--", "cat", "{}")
    dashboard = serve("dashboard", "--redis", server.url, "--http", "0", "--http-token", "s3cret", "--worker-expiry", "8")
    worker = Worker(server.url, "-w", 2, "--tenant", "default", "--http", "0", log=tmp_path / "worker.log")
    wait_finished(server.url, failing)

    status_now = dashboard.status()
    # The worker's heartbeat, seen within --worker-expiry.
    [seen] = batch_named(status_now, failing)["workers"]
    assert seen["name"].endswith(f":{worker.process.pid}") and seen["done"] == 6
    shown = batch_named(status_now, failing)
    assert shown["totals"] | {"ok": 4, "failed": 2, "total": 6} == shown["totals"] and shown["state"] == "finished"
    assert shown["actions"] == ["retry"]  # a finished batch's failed documents can still run again
    assert batch_named(status_now, waiting)["state"] == "running"
    assert batch_named(status_now, waiting)["actions"] == ["cancel", "pause", "resume", "retry"]
    metrics = dashboard.get("/metrics")
    assert f'batchcore_documents_finished_total{{batch="{failing}",tenant="default",status="failed"}} 2' in metrics
    assert f'batch="{waiting}"' in metrics

    # Without the token nothing runs again.
    assert dashboard.act("/api/retry", batch=failing, all="true")[0] == 401
    assert dashboard.act("/api/retry", token="s3cret", all="true")[0] == 400  # which batch?
    assert status(server.url, failing)["failed"] == 2
    fixed.touch()
    code, answer = dashboard.act("/api/retry", token="s3cret", batch=failing, all="true")
    assert code == 200 and answer["requeued"] == 2 and all(id.endswith(("d00000.txt", "d00001.txt")) for id in answer["ids"])
    wait_for(lambda: (s := status(server.url, failing))["state"] == "finished" and s["failed"] == 0 and s["ok"] == 6,
             "the retried documents to succeed")

    code, _ = dashboard.act("/api/cancel", token="s3cret", batch=waiting)
    assert code == 200 and status(server.url, waiting)["state"] == "cancelled"
    assert worker.stop() == 0
    # A worker not seen for --worker-expiry seconds is left out.
    wait_for(lambda: not batch_named(dashboard.status(), failing)["workers"], "the stopped worker to expire", timeout=30)
    assert dashboard.stop() == 0


def test_a_worker_serves_its_own_metrics_and_status(server, serve, tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    docs = make_docs(tmp_path / "docs", 3)
    batch = submit(server.url, str(docs), "--tenant", "own", "--", "sh", "-c", f'while [ -e {hold} ]; do sleep 0.02; done; cat "$1"', "sh", "{}")
    worker = Worker(server.url, "-w", 2, "--tenant", "own", "--http", "0", log=tmp_path / "worker.log")
    url = wait_for(lambda: re.search(r"serving (http://[\d.]+:\d+/)", (tmp_path / "worker.log").read_text()), "the worker's address").group(1)

    def own_status():
        with urllib.request.urlopen(url + "api/status", timeout=30) as answer:
            return json.loads(answer.read())

    served = wait_for(lambda: (s := own_status())["batches"] and s["batches"][0]["totals"]["in_flight"] == 2 and s,
                      "the worker to run two documents")
    assert served["read_only"] is True and served["batches"][0]["name"] == batch
    with urllib.request.urlopen(url + "metrics", timeout=30) as answer:
        assert f'batchcore_documents_in_flight{{batch="{batch}",tenant="own"}} 2' in answer.read().decode()
    hold.unlink()
    wait_finished(server.url, batch)
    assert worker.stop() == 0


def test_the_dashboard_groups_a_batchs_failures_and_retries_one_group(server, serve, tmp_path):
    docs = make_docs(tmp_path / "docs", 5)
    fixed = tmp_path / "fixed"
    script = (f'case "$1" in *d0000[0-1].txt) test -e {fixed} || {{ echo "bad header" >&2; exit 3; }};; '
              '*d00002.txt) echo "too long" >&2; exit 4;; esac; cat "$1"')
    batch = submit(server.url, str(docs), "--tenant", "groups", "-O", "retry.attempts=1", "--", "sh", "-c", script, "sh", "{}")
    dashboard = serve("dashboard", "--redis", server.url, "--http", "0", "--http-token", "s3cret")
    worker = Worker(server.url, "-w", 2, "--tenant", "groups", log=tmp_path / "worker.log")
    wait_finished(server.url, batch)

    header, long = batch_named(dashboard.status(), batch)["failures"]
    assert header["count"] == 2 and "bad header" in header["error"] and long["count"] == 1 and "too long" in long["error"]
    assert sorted(os.path.basename(id) for id in header["examples"]) == ["d00000.txt", "d00001.txt"]
    assert [os.path.basename(id) for id in long["examples"]] == ["d00002.txt"]

    # The failed documents, paged in id order, searched, and one by one.
    def failed(query):
        page = json.loads(dashboard.get(f"/api/documents?batch={batch}&status=failed&{query}"))
        return [os.path.basename(d["id"]) for d in page["documents"]], page
    names, first = failed("limit=2")
    assert names == ["d00000.txt", "d00001.txt"] and first["next"] == first["documents"][-1]["id"]
    names, rest = failed("after=" + urllib.parse.quote(first["next"]))
    assert names == ["d00002.txt"] and rest["next"] is None and "too long" in rest["documents"][0]["error"]
    assert failed("q=bad+header")[0] == ["d00000.txt", "d00001.txt"]
    one = json.loads(dashboard.get(f"/api/documents/{urllib.parse.quote(first['next'], safe='')}?batch={batch}"))
    assert one["status"] == "failed" and "bad header" in one["error"]
    [call] = one["attempt_history"]  # a failed document keeps its history
    assert call["outcome"] == "failed" and "bad header" in call["stderr"] and f":{worker.process.pid}/" in call["worker"]

    fixed.touch()
    selection = {"error": header["error"]} | ({"stage": header["stage"]} if header["stage"] else {})
    code, answer = dashboard.act("/api/retry", token="s3cret", batch=batch, **selection)
    assert code == 200 and answer["requeued"] == 2 and sorted(answer["ids"]) == sorted(header["examples"])
    wait_for(lambda: (s := status(server.url, batch))["state"] == "finished" and s["ok"] == 4, "the group to succeed")
    # The retried group is gone; the other one stays.
    assert batch_named(dashboard.status(), batch)["failures"] == [long]
    # A retried document's attempts go on counting, its history with them.
    again = json.loads(dashboard.get(f"/api/documents/{urllib.parse.quote(first['next'], safe='')}?batch={batch}"))
    assert again["status"] == "ok" and again["attempts"] == 2
    assert [(c["attempt"], c["outcome"]) for c in again["attempt_history"]] == [(1, "failed"), (2, "ok")]
    assert worker.stop() == 0


def test_the_dashboard_shows_every_attempt_of_a_document_with_the_worker_that_made_it(server, serve, tmp_path, monkeypatch):
    docs = make_docs(tmp_path / "docs", 3)
    calls = tmp_path / "calls.log"
    # d00001 asks for a retry (exit 75) on each call by a worker started with
    # FLAKY set, d00002 fails for good; each call is noted with its worker's pid.
    script = (f'echo "$(basename "$1") $PPID" >> {calls}; case "$1" in '
              '*d00001.txt) if [ -n "$FLAKY" ]; then echo "busy on $PPID" >&2; exit 75; fi;; '
              '*d00002.txt) echo "broken" >&2; exit 3;; esac; cat "$1"')
    batch = submit(server.url, str(docs), "--tenant", "history", "--lease", "2s", "-O", "retry.attempts=100",
                   "-O", "retry.base=50ms", "-O", "retry.max=50ms", "--", "sh", "-c", script, "sh", "{}")
    dashboard = serve("dashboard", "--redis", server.url, "--http", "0")

    def calls_of(name):
        return [line.split()[1] for line in calls.read_text().splitlines() if line.startswith(name)] if calls.exists() else []

    monkeypatch.setenv("FLAKY", "1")
    first = Worker(server.url, "-w", 1, "--tenant", "history", log=tmp_path / "first.log")
    wait_for(lambda: len(calls_of("d00001.txt")) >= 2 and committed(status(server.url, batch)) == 2,
             "two calls of d00001.txt and the other documents committed")
    assert first.stop() == 0  # the call it holds ends; the document goes back to Redis
    monkeypatch.delenv("FLAKY")
    second = Worker(server.url, "-w", 1, "--tenant", "history", log=tmp_path / "second.log")
    wait_finished(server.url, batch)
    assert second.stop() == 0

    def history(name):
        one = json.loads(dashboard.get(f"/api/documents/{urllib.parse.quote(str(docs / name), safe='')}?batch={batch}"))
        return one, one["attempt_history"]

    one, calls_shown = history("d00001.txt")
    all_pids = calls_of("d00001.txt")
    assert one["status"] == "ok" and one["attempts"] == len(all_pids) >= 3
    assert set(all_pids[:-1]) == {str(first.process.pid)} and all_pids[-1] == str(second.process.pid)
    pids = all_pids[-20:]  # Redis keeps the last 20 calls (the first worker makes a few, unless the machine is slow)
    assert [c["attempt"] for c in calls_shown] == list(range(len(all_pids) - len(pids) + 1, len(all_pids) + 1))
    # Each call names the worker process that made it: the first, then the second.
    assert [c["worker"].split("/")[0].rsplit(":", 1)[1] for c in calls_shown] == pids
    assert [c["outcome"] for c in calls_shown] == ["retry"] * (len(pids) - 1) + ["ok"]
    for call, pid in zip(calls_shown[:-1], pids):
        assert call["stderr"] == f"busy on {pid}" and "busy" in call["error"]
        assert call["started_at"] > 1e9 and call["duration_ms"] >= 0
    broken, [failed] = history("d00002.txt")
    assert broken["status"] == "failed" and failed["outcome"] == "failed" and failed["stderr"] == "broken"
    assert history("d00000.txt")[1] == []  # succeeded at its first call: no history kept, as in a journal

    # The page's drill-down shows them as for a run.
    with Browser(dashboard.url) as page:
        wait_for(lambda: page.evaluate("document.querySelectorAll('section.batch').length") > 0, "the page's batches")
        page.evaluate(f"showDocument({json.dumps(str(docs / 'd00001.txt'))}, {{name: {json.dumps(batch)}, actions: []}})")
        rows = wait_for(lambda: page.evaluate("[...document.querySelectorAll('#detail-attempts tr')].map(r => r.innerText)"),
                        "the document's attempts on the page")
    assert len(rows) == len(pids) and f":{pids[0]}/" in rows[0] and "busy on" in rows[0] and f":{pids[-1]}/" in rows[-1]


def test_the_dashboard_pages_a_batchs_documents_of_every_status(server, serve, tmp_path):
    docs = make_docs(tmp_path / "docs", 300)
    ids = sorted((str(p) for p in docs.iterdir()), key=str.encode)
    hold = tmp_path / "hold"
    hold.touch()
    # Documents whose number ends in 7 fail; d00150 waits while `hold` exists.
    script = f'case "$1" in *7.txt) echo "seven" >&2; exit 3;; *d00150.txt) while [ -e {hold} ]; do sleep 0.02; done;; esac; cat "$1"'
    batch = submit(server.url, str(docs), "--tenant", "pages", "-O", "retry.attempts=1", "--", "sh", "-c", script, "sh", "{}")
    dashboard = serve("dashboard", "--redis", server.url, "--http", "0")

    def listed(query, limit=37):
        """Every page of a listing: each id once, in id order, with its status."""
        found, after = [], None
        while True:
            url = f"/api/documents?batch={batch}&limit={limit}&{query}" + (f"&after={urllib.parse.quote(after)}" if after else "")
            page = json.loads(dashboard.get(url))
            found += [(d["id"], d["status"]) for d in page["documents"]]
            if page["next"] is None:
                break
            assert page["next"] == found[-1][0] and len(page["documents"]) == limit
            after = page["next"]
        assert [id for id, _ in found] == sorted({id for id, _ in found}, key=str.encode), "pages overlap or are out of order"
        return found

    # Before any worker: every document waits.
    assert listed("status=pending") == [(id, "pending") for id in ids]
    assert listed("") == [(id, "pending") for id in ids]
    assert listed("status=running") == [] and listed("status=done") == []

    worker = Worker(server.url, "-w", 2, "--tenant", "pages", log=tmp_path / "worker.log")
    held = str(docs / "d00150.txt")
    wait_for(lambda: committed(status(server.url, batch)) == 299, "every document but the held one to be committed")
    failed = [id for id in ids if id.endswith("7.txt")]
    ok = [id for id in ids if id not in failed and id != held]
    assert listed("status=failed") == [(id, "failed") for id in failed]
    assert listed("status=ok", limit=100) == listed("status=done") == [(id, "ok") for id in ok]
    assert listed("status=running") == [(held, "running")]
    assert listed("status=pending") == []
    everything = listed("", limit=1000)
    assert everything == sorted([(id, "failed") for id in failed] + [(id, "ok") for id in ok] + [(held, "running")],
                                key=lambda pair: pair[0].encode())
    # Filters as for a run: a substring of the id, path or error, and the failed stage.
    assert listed("q=d0012") == [(id, "failed" if id.endswith("7.txt") else "ok") for id in ids if "d0012" in id]
    assert listed("q=seven") == [(id, "failed") for id in failed]
    stage = json.loads(dashboard.get(f"/api/documents?batch={batch}&status=failed&limit=1"))["documents"][0]["failed_stage"]
    assert len(listed(f"status=failed&stage={urllib.parse.quote(stage)}")) == 30
    assert listed("stage=no-such-stage") == []
    with pytest.raises(urllib.error.HTTPError) as weird:
        dashboard.get(f"/api/documents?batch={batch}&status=weird")
    assert weird.value.code == 400 and "pending or running" in weird.value.read().decode()

    hold.unlink()
    wait_finished(server.url, batch)
    assert listed("status=running") == [] and listed("status=ok") == [(id, "ok") for id in sorted(ok + [held], key=str.encode)]
    assert worker.stop() == 0


def test_pausing_a_distributed_batch_stops_every_worker_until_it_resumes(server, serve, tmp_path):
    docs = make_docs(tmp_path / "docs", 40)
    calls = tmp_path / "calls.log"
    batch = submit(server.url, str(docs), "--tenant", "pause", "--lease", "2s",
                   "--", "sh", "-c", f'echo "$1" >> {calls}; sleep 0.1; cat "$1"', "sh", "{}")
    dashboard = serve("dashboard", "--redis", server.url, "--http", "0", "--http-token", "s3cret")
    workers = [Worker(server.url, "-w", 2, "--tenant", "pause", log=tmp_path / f"w{i}.log") for i in range(2)]

    def started():
        return calls.read_text().splitlines() if calls.exists() else []

    wait_for(lambda: committed(s := status(server.url, batch)) >= 4 and len(s["workers"]) == 2,
             "both workers running the batch, four documents committed")
    assert dashboard.act("/api/pause", batch=batch)[0] == 401
    assert dashboard.act("/api/pause", token="wrong", batch=batch)[0] == 403
    code, answer = dashboard.act("/api/pause", token="s3cret", batch=batch)
    assert code == 200 and answer == {"paused": True}
    shown = batch_named(dashboard.status(), batch)
    assert shown["paused"] is True and shown["state"] == "running" and "resume" in shown["actions"]

    # Each worker finishes the documents it holds, then its run of the batch ends.
    drained = wait_for(lambda: (s := status(server.url, batch))["in_flight"] == 0 and len(s["workers"]) == 2
                       and all(w["state"] == "paused" for w in s["workers"]) and s, "both workers to drain the paused batch")
    assert drained["state"] == "paused" and 4 <= committed(drained) < 40
    assert len(started()) == committed(drained), "a document started before the pause did not finish"
    # Nothing starts while it is paused (a document takes 0.1 s; claims are polled every 0.1 s).
    window = time.monotonic() + 1.5
    while time.monotonic() < window:
        assert len(started()) == committed(drained), "a worker started a document of the paused batch"
        time.sleep(0.05)
    assert committed(status(server.url, batch)) == committed(drained)

    assert dashboard.act("/api/resume", batch=batch)[0] == 401
    # The page offers Resume for the paused batch, and its click resumes it.
    with Browser(dashboard.url + "?token=s3cret") as page:
        view = f"[...document.querySelectorAll('section.batch')].find(s => s.querySelector('h2').innerText.startsWith({json.dumps(batch)}))"
        wait_for(lambda: page.evaluate(f"!!({view}) && !!({view}).querySelector('button.resume')"), "the page's Resume button")
        assert page.evaluate(f"({view}).querySelector('#state').innerText") == "paused"
        page.evaluate(f"({view}).querySelector('button.resume').click()")
        wait_for(lambda: batch_named(dashboard.status(), batch)["paused"] is False, "the page to resume the batch")
        wait_for(lambda: page.evaluate(f"!!({view}).querySelector('button.pause')"), "the page to offer Pause again")
    wait_for(lambda: len(started()) > committed(drained), "the workers to start the resumed batch's documents")
    # The same from the command line.
    paused = run("pause", "--redis", server.url, batch)
    assert paused.code == 0 and "paused" in paused.err and status(server.url, batch)["state"] == "paused"
    resumed = run("resume", "--redis", server.url, batch)
    assert resumed.code == 0 and status(server.url, batch)["state"] == "open"
    assert wait_finished(server.url, batch)["ok"] == 40
    assert [w.stop() for w in workers] == [0, 0]
    assert_each_once(collect(server.url, batch, tmp_path / "out.jsonl"), [str(p) for p in docs.iterdir()])
    assert sorted(started()) == sorted(str(p) for p in docs.iterdir()), "a document ran twice"

    # Only an open batch pauses.
    refused = run("pause", "--redis", server.url, batch)
    assert refused.code != 0 and "only an open batch can be paused" in refused.err
    code, answer = dashboard.act("/api/resume", token="s3cret", batch=batch)
    assert code == 409 and "finished" in answer["error"]
