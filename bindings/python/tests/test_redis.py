"""Distributed batches from Python: submit, status, collect and a Worker
running Python processors, against a redis-server of the module's own."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

import batchcore
from conftest import ROOT

sys.path.insert(0, str(ROOT / "Tests" / "cli"))
from redis_server import REDIS_SERVER, RedisServer  # noqa: E402

BATCHHOST = Path(batchcore.library_path()).parent / "batchhost"

pytestmark = pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="needs Debian's redis-server")


@pytest.fixture(scope="module")
def redis() -> Any:
    with RedisServer() as server:
        yield server.url


@batchcore.processor(name="py-shout")
def shout(doc: batchcore.Doc) -> str:
    return doc.text().upper()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finished(url: str, batch: str) -> Dict[str, Any]:
    wait_until(lambda: batchcore.status(url, batch)["state"] == "finished", f"batch {batch} to finish")
    summary: Dict[str, Any] = batchcore.status(url, batch)
    return summary


def assert_each_once(records: List[Dict[str, Any]], paths: List[Path]) -> None:
    assert sorted(r["path"] for r in records) == sorted(str(p) for p in paths)


def test_a_python_worker_runs_a_python_processor_on_a_python_submission(redis: str, make_docs: Any) -> None:
    paths = make_docs(60)
    batch = batchcore.submit(redis, shout, dir=paths[0].parent, lease=5)
    assert batchcore.status(redis, batch)["total"] == 60
    with batchcore.Worker(redis, [shout], workers=3, quiet=True):
        summary = finished(redis, batch)
    assert summary["ok"] == 60
    records = batchcore.collect(redis, batch)
    assert_each_once(records, paths)
    assert all(r["output"] == Path(r["path"]).read_text().upper() for r in records)
    assert any(w["done"] > 0 for w in summary["workers"])


def test_a_python_worker_serves_a_batch_submitted_by_batchhost(redis: str, make_docs: Any) -> None:
    paths = make_docs(40)
    submitted = subprocess.run([str(BATCHHOST), "submit", "--redis", redis, "-q", "-p", "text", str(paths[0].parent)],
                               capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    batch = submitted.stdout.strip()
    with batchcore.Worker(redis, workers=2, quiet=True):
        assert finished(redis, batch)["ok"] == 40
    assert_each_once(batchcore.collect(redis, batch), paths)


def test_a_worker_lacking_the_processor_says_so_and_leaves_the_batch(redis: str, make_docs: Any,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    paths = make_docs(5)
    batch = batchcore.submit(redis, shout, files=paths)
    with batchcore.Worker(redis, workers=1):
        wait_until(lambda: "no processor 'py-shout'" in capfd.readouterr().err, "the worker to say what it lacks")
    summary = batchcore.status(redis, batch)
    assert summary["state"] == "open" and summary["ok"] == 0 and summary["in_flight"] == 0


def test_collect_failed_and_status_of_every_batch(redis: str, make_docs: Any) -> None:
    @batchcore.processor(name="py-picky")
    def picky(doc: batchcore.Doc) -> str:
        if doc.text().startswith("document 1"):
            raise ValueError("not this one")
        return "fine"

    paths = make_docs(12)
    batch = batchcore.submit(redis, picky, dir=paths[0].parent, retry_attempts=1)
    with batchcore.Worker(redis, [picky], workers=2, quiet=True):
        summary = finished(redis, batch)
    failed = batchcore.collect(redis, batch, failed=True)
    assert summary["failed"] == len(failed) == 3  # documents 1, 10 and 11
    assert all("not this one" in r["error"] for r in failed)
    assert batch in [s["id"] for s in batchcore.status(redis)]


def test_documents_held_in_memory_cannot_be_submitted(redis: str, engine: batchcore.Engine) -> None:
    with engine.batch("text") as batch:
        batch.add(content="hello", id="a")
        with pytest.raises(batchcore.InputError, match="held in memory"):
            batch.submit(redis)


def test_errors_name_the_server_and_the_batch(redis: str) -> None:
    with pytest.raises(batchcore.InvalidArgumentError, match="redis"):
        batchcore.status("http://nowhere")
    with pytest.raises(batchcore.BatchIOError, match="127.0.0.1:1"):
        batchcore.status("redis://127.0.0.1:1")
    with pytest.raises(batchcore.NotFoundError, match="no batch 'b-none'"):
        batchcore.collect(redis, "b-none")


def test_worker_run_serves_until_sigterm_and_exits_cleanly(redis: str, make_docs: Any, tmp_path: Path) -> None:
    paths = make_docs(10)
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, batchcore\n"
        "@batchcore.processor(name='py-shout')\n"
        "def shout(doc):\n"
        "    return doc.text().upper()\n"
        "batchcore.Worker(sys.argv[1], [shout], workers=2).run()\n"
        "print('stopped', flush=True)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(batchcore.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, str(script), redis], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert " serving " in line, line
        batch = batchcore.submit(redis, shout, files=paths)
        assert finished(redis, batch)["ok"] == 10
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out == "stopped\n"
