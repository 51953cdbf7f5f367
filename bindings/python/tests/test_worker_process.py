"""isolation="process" for Python processors: python -m batchcore.worker children."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import PACKAGE_PARENT, ROOT, batchcore

import isolated_functions as functions

TESTS = os.path.dirname(os.path.abspath(__file__))
BATCHHOST = ROOT / ".build" / "release" / "batchhost"


def add_docs(batch, count, prefix="doc", metadata=None):
    for i in range(count):
        batch.add(content=f"text {i}", id=f"{prefix}-{i}", metadata=metadata)


def test_n_workers_are_n_processes_of_the_same_interpreter(engine, tmp_path):
    meet = tmp_path / "meet"
    meet.mkdir()
    with engine.batch(workers=3) as batch:
        batch.add_stage(functions.whoami, isolation="process")
        add_docs(batch, 9, metadata={"meet": str(meet), "count": 3})
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.ok == 9 and stats.input_tokens == 18 and stats.output_tokens == 27
    pids = {r.json()["pid"] for r in results.values()}
    assert len(pids) == 3 and os.getpid() not in pids
    assert results["doc-4"].json()["text"] == "text 4"


def test_the_batch_option_moves_python_stages_and_results_keep_their_meaning(engine):
    with engine.batch(functions.retry_then_json, isolation="process", retry_base="10ms") as batch:
        logs = []
        batch.on_event(lambda e: logs.append(e.message) if e.kind == batchcore.EventKind.LOG else None)
        add_docs(batch, 2)
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.partial == 2 and stats.retries == 2
    assert results["doc-1"].json() == {"attempt": 2} and results["doc-1"].error == "half"
    assert "retry_then_json: second try of doc-0" in logs


def test_a_segfault_costs_one_document(engine):
    with engine.batch(workers=2, retry_attempts=2, retry_base="10ms") as batch:
        batch.add_stage(functions.crash_on_request, isolation="process")
        add_docs(batch, 4)
        batch.add(content="x", id="crash-1")
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.ok == 4 and stats.failed == 1
    assert results["crash-1"].error == "gave up after 2 attempts: worker crashed: SIGSEGV"
    assert results["crash-1"].attempts == 2


def test_a_call_past_its_timeout_kills_its_worker(engine):
    with engine.batch(workers=1, timeout="1s", timeout_grace="100ms", retry_attempts=1) as batch:
        batch.add_stage(functions.sleep_on_request, isolation="process")
        batch.add(content="x", id="quick")
        batch.add(content="x", id="slow")
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.ok == 1 and stats.failed == 1 and stats.timeouts == 1
    assert results["slow"].error == "gave up after 1 attempt: timed out after 1s"


def test_a_worker_is_replaced_after_max_documents(engine):
    with engine.batch(workers=1, worker_max_documents=2) as batch:
        batch.add_stage(functions.whoami, isolation="process")
        add_docs(batch, 5)
        assert batch.run().ok == 5
        pids = [r.json()["pid"] for r in batch.results()]
    assert len(set(pids)) == 3 and max(pids.count(p) for p in pids) == 2


def test_a_worker_past_its_memory_limit_costs_one_document(engine):
    with engine.batch(workers=1, worker_memory_limit="1GiB", retry_attempts=1) as batch:
        batch.add_stage(functions.grow_on_request, isolation="process")
        batch.add(content="x", id="grow")
        batch.add(content="x", id="stay")
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.ok == 1 and results["stay"].output == b"small"
    assert results["grow"].error == "gave up after 1 attempt: worker exceeded worker.memory_limit 1GiB (SIGABRT)"


def test_functions_a_worker_cannot_import_are_refused_with_the_reason(engine):
    def nested(doc):
        return None

    with pytest.raises(TypeError, match="a lambda has no name to import it by"):
        engine.batch(lambda doc: None, isolation="process")
    with pytest.raises(TypeError, match=r"nested is defined inside another function .*move it to the top level"):
        engine.batch(workers=1).add_stage(nested, isolation="process")
    with pytest.raises(TypeError, match="prepare function .* a lambda"):
        engine.batch(workers=1).add_stage(functions.adjust, isolation="process", prepare=lambda: 1)


def test_prepare_runs_once_and_reaches_every_worker(engine, tmp_path, monkeypatch):
    log = tmp_path / "prepare.log"
    monkeypatch.setenv("BATCHCORE_TEST_PREPARE_LOG", str(log))
    meet = tmp_path / "meet"
    meet.mkdir()
    with engine.batch(workers=3) as batch:
        batch.add_stage(functions.whoami, isolation="process")
        batch.add_stage(functions.adjust, isolation="process", prepare=functions.research)
        add_docs(batch, 9, metadata={"meet": str(meet), "count": 3})
        assert batch.run().ok == 9
        outputs = [r.output for r in batch.results()]
    assert log.read_text().count("\n") == 1
    assert all(out.endswith(b" for ACME") for out in outputs)


def test_a_failing_start_names_the_function(engine):
    with engine.batch(workers=1) as batch:
        batch.add_stage("python", {"function": "isolated_functions:no_such_function",
                                   "path": os.pathsep.join([TESTS, str(PACKAGE_PARENT)])})
        batch.add(content="x", id="a")
        with pytest.raises(batchcore.PluginError, match="cannot start isolated_functions:no_such_function: AttributeError"):
            batch.start()


def batchhost(*args, env=None):
    return subprocess.run([str(BATCHHOST), *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_batchhost_runs_a_python_function_in_worker_processes(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"{i}.txt").write_text(f"file {i}")
    out = tmp_path / "out.jsonl"
    path = os.pathsep.join([TESTS, str(PACKAGE_PARENT)])
    done = batchhost("run", docs, "-p", "python", "--set", "function=isolated_functions:whoami",
                     "--set", f"path={path}", "--isolation", "process", "-w", "2", "-o", out,
                     env={"BATCHCORE_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["output"]["text"] for line in lines) == [f"file {i}" for i in range(4)]

    missing = batchhost("run", docs, "-p", "python", "-o", tmp_path / "x.jsonl")
    assert missing.returncode != 0
    assert "option 'function' is required for python" in missing.stderr
    nowhere = batchhost("run", docs, "-p", "python", "--set", "function=a:b", "--set", "python=no-such-python",
                        "-o", tmp_path / "y.jsonl")
    assert "no Python interpreter 'no-such-python' (from option 'python') on PATH" in nowhere.stderr
    without = tmp_path / "python-without-batchcore"
    without.write_text("#!/bin/sh\necho 'No module named batchcore' >&2\nexit 1\n")
    without.chmod(0o755)
    lost = batchhost("run", docs, "-p", "python", "--set", "function=a:b", "--set", f"python={without}",
                     "-o", tmp_path / "z.jsonl")
    assert lost.returncode != 0
    assert f"is the batchcore package importable by {without}? Install it there" in lost.stderr, lost.stderr


def test_a_resumed_batch_takes_prepare_from_the_journal(engine, tmp_path, monkeypatch):
    log = tmp_path / "prepare.log"
    monkeypatch.setenv("BATCHCORE_TEST_PREPARE_LOG", str(log))
    output = tmp_path / "out.jsonl"

    def run_batch(**options):
        with engine.batch(workers=2, output=output, **options) as batch:
            batch.add_stage(functions.adjust, isolation="process", prepare=functions.research)
            add_docs(batch, 3)
            assert batch.run().failed == 0

    run_batch()
    run_batch(resume=True)
    assert log.read_text().count("\n") == 1
    with engine.batch(workers=2, output=output, resume=True) as batch:
        batch.add_stage(functions.adjust, isolation="process", prepare=functions.research)
        batch.set_stage(None, "prepare_again", True)
        add_docs(batch, 3)
        batch.run()
    assert log.read_text().count("\n") == 2
