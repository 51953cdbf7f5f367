"""batchhost dashboard --redis URL --http PORT (every batch in Redis, with
operator actions) and batchhost worker --http PORT (the worker's own batches)."""
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import BATCHHOST, wait_for
from distributed import Worker, make_docs, status, submit, wait_finished
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
    assert batch_named(status_now, waiting)["actions"] == ["cancel", "retry"]
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
    assert one["status"] == "failed" and "bad header" in one["error"] and one["attempt_history"] == []
    with pytest.raises(urllib.error.HTTPError) as unfiltered:
        dashboard.get(f"/api/documents?batch={batch}")
    assert unfiltered.value.code == 404 and "status=failed" in json.loads(unfiltered.value.read())["error"]

    fixed.touch()
    selection = {"error": header["error"]} | ({"stage": header["stage"]} if header["stage"] else {})
    code, answer = dashboard.act("/api/retry", token="s3cret", batch=batch, **selection)
    assert code == 200 and answer["requeued"] == 2 and sorted(answer["ids"]) == sorted(header["examples"])
    wait_for(lambda: (s := status(server.url, batch))["state"] == "finished" and s["ok"] == 4, "the group to succeed")
    # The retried group is gone; the other one stays.
    assert batch_named(dashboard.status(), batch)["failures"] == [long]
    assert worker.stop() == 0
