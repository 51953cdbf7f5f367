"""Distributed batches survive a worker killed with -9 and a Redis restart."""
import time
from pathlib import Path

from conftest import wait_for
from distributed import Worker, assert_each_once, collect, committed, make_docs, status, submit, wait_finished
from distributed import kill_leftover_workers  # noqa: F401 (autouse fixture)
from redis_server import RedisServer

# Each document takes a little while, so that a batch is still running when it is disturbed.
SLOW_CAT = ["--", "sh", "-c", 'sleep 0.01; cat "$1"', "sh", "{}"]


def test_a_worker_killed_mid_run_loses_nothing_and_doubles_nothing(tmp_path):
    docs = make_docs(tmp_path / "docs", 2000)
    with RedisServer() as server:
        batch = submit(server.url, str(docs), "--lease", "2s", *SLOW_CAT)
        workers = [Worker(server.url, "-w", 2) for _ in range(3)]
        wait_for(lambda: committed(status(server.url, batch)) >= 300, "300 documents committed")
        workers[0].kill()
        assert committed(status(server.url, batch)) < 2000, "the batch was still running when the worker died"
        workers.append(Worker(server.url, "-w", 2))
        summary = wait_finished(server.url, batch, timeout=300)
        assert [w.stop() for w in workers[1:]] == [0, 0, 0]
        records = collect(server.url, batch, tmp_path / "out.jsonl")
    assert summary["ok"] == 2000
    assert_each_once(records, [str(p) for p in docs.iterdir()])
    assert all(r["output"] == open(r["path"]).read() for r in records)


def test_a_redis_restart_with_aof_mid_run_loses_nothing_and_doubles_nothing(tmp_path):
    docs = make_docs(tmp_path / "docs", 600)
    with RedisServer(appendonly=True) as server:
        batch = submit(server.url, str(docs), "--lease", "2s", *SLOW_CAT)
        workers = [Worker(server.url, "-w", 2, log=tmp_path / f"w{i}.log") for i in range(2)]
        wait_for(lambda: committed(status(server.url, batch)) >= 100, "100 documents committed")
        server.stop()
        server.start()
        summary = wait_finished(server.url, batch, timeout=300)
        assert [w.stop() for w in workers] == [0, 0]
        records = collect(server.url, batch, tmp_path / "out.jsonl")
    assert summary["ok"] == 600
    assert_each_once(records, [str(p) for p in docs.iterdir()])
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
    for log in logs:
        assert log.count("reconnecting") <= 1, "an outage is reported once, not per document:\n" + log


def test_a_worker_whose_redis_is_gone_still_stops_on_sigterm(tmp_path):
    docs = make_docs(tmp_path / "docs", 400)
    with RedisServer() as server:
        batch = submit(server.url, str(docs), *SLOW_CAT)
        worker = Worker(server.url, "-w", 2)
        wait_for(lambda: committed(status(server.url, batch)) >= 20, "20 documents committed")
        server.stop()
        wait_for(lambda: "reconnecting" in Path(worker.log_path).read_text(), "the worker to find Redis gone")
        # Told to stop, it waits out no reconnection (30 s each): the documents
        # it held run elsewhere after their lease.
        started = time.monotonic()
        assert worker.stop(timeout=60) == 0
        assert time.monotonic() - started < 20, "the worker waited for Redis instead of stopping"
