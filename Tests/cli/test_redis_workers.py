"""Distributed batches: submit, workers on one Redis server, collect, status, cancel, retry-failed."""
import json

from conftest import run
from distributed import Worker, assert_each_once, collect, committed, make_docs, status, submit, wait_finished
from distributed import kill_leftover_workers  # noqa: F401 (autouse fixture)
from redis_server import RedisServer


def test_two_workers_give_every_document_once_with_its_output(tmp_path):
    docs = make_docs(tmp_path / "docs", 200)
    with RedisServer() as server:
        batch = submit(server.url, str(docs), "--", "cat", "{}")
        workers = [Worker(server.url, "-w", 3, log=tmp_path / f"w{i}.log") for i in range(2)]
        summary = wait_finished(server.url, batch)
        assert [w.stop() for w in workers] == [0, 0], "SIGTERM ends a worker with exit 0"
        records = collect(server.url, batch, tmp_path / "out.jsonl")
    assert_each_once(records, [str(p) for p in docs.iterdir()])
    for r in records:
        assert r["status"] == "ok"
        assert r["output"] == open(r["path"]).read()
        assert r["attempts"] == 1
    assert summary["ok"] == 200 and summary["total"] == 200
    assert len(summary["workers"]) == 2 and sum(w["done"] for w in summary["workers"]) == 200


def test_the_url_comes_from_the_environment_and_the_password_is_never_printed(tmp_path):
    docs = make_docs(tmp_path / "docs", 3)
    with RedisServer(extra=["--requirepass", "s3cret"]) as server:
        url = f"redis://:s3cret@127.0.0.1:{server.port}"
        result = run("submit", str(docs), "--", "cat", "{}", env={"BATCHCORE_REDIS": url})
        assert result.code == 0, result
        assert "s3cret" not in result.out + result.err
        assert "***" in result.err


def test_failed_documents_are_collected_apart_and_run_again_on_retry_failed(tmp_path):
    docs = make_docs(tmp_path / "docs", 10)
    flag = tmp_path / "fixed"
    script = f'case "$1" in *d0000[0-2].txt) test -e {flag} || exit 3;; esac; cat "$1"'
    with RedisServer() as server:
        batch = submit(server.url, str(docs), "-O", "retry.attempts=1", "--", "sh", "-c", script, "sh", "{}")
        worker = Worker(server.url, "-w", 2)
        summary = wait_finished(server.url, batch)
        assert (summary["ok"], summary["failed"]) == (7, 3)
        failed = collect(server.url, batch, tmp_path / "failed.jsonl", "--failed")
        assert sorted(r["id"] for r in failed) == [str(docs / f"d0000{i}.txt") for i in range(3)]
        flag.write_text("")
        result = run("retry-failed", "--redis", server.url, batch)
        assert result.code == 0, result
        summary = wait_finished(server.url, batch)
        assert worker.stop() == 0
        assert (summary["ok"], summary["failed"]) == (10, 0)
        assert_each_once(collect(server.url, batch, tmp_path / "out.jsonl"), [str(p) for p in docs.iterdir()])


def test_a_cancelled_batch_stops_being_served(tmp_path):
    docs = make_docs(tmp_path / "docs", 20)
    with RedisServer() as server:
        batch = submit(server.url, str(docs), "--", "cat", "{}")
        result = run("cancel", "--redis", server.url, batch)
        assert result.code == 0, result
        worker = Worker(server.url)
        listing = run("status", "--redis", server.url)
        assert worker.stop() == 0
        assert status(server.url, batch)["state"] == "cancelled"
        assert committed(status(server.url, batch)) == 0
        assert batch in listing.out and "cancelled" in listing.out


def test_submit_wait_shows_progress_writes_the_results_and_exits_as_run_does(tmp_path):
    docs = make_docs(tmp_path / "docs", 6)
    (tmp_path / "relative-docs").symlink_to(docs)
    script = 'case "$1" in *d00000.txt) exit 3;; esac; cat "$1"'
    out = tmp_path / "out.jsonl"
    with RedisServer() as server:
        worker = Worker(server.url, "-w", 2)
        result = run("submit", "--redis", server.url, "--wait", "-o", out, "-O", "retry.attempts=1",
                     "relative-docs", "--", "sh", "-c", script, "sh", "{}", cwd=tmp_path)
        assert worker.stop() == 0
    assert result.code == 1, result
    assert "finished: 6 of 6 committed (5 ok, 0 partial, 1 failed)" in result.err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(f"relative-docs/{p.name}" for p in docs.iterdir())
    assert all(r["path"].startswith("/") for r in records), "relative paths are made absolute for the workers"
