"""isolation="process": plugins run in worker processes started by the library."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT, SAMPLES, batchcore, compile_c

FAULTY = ROOT / "Tests" / "cli" / "plugins" / "faulty.c"


def test_a_plugin_gives_the_same_results_in_worker_processes(engine):
    results = {}
    for mode in ("thread", "process"):
        with engine.batch("text", workers=3, isolation=mode, worker_max_documents=4) as batch:
            batch.add_dir(SAMPLES, glob="*.txt")
            stats = batch.run()
            assert stats.ok == 36 and stats.failed == 0
            results[mode] = {r.id: r.json() for r in batch.results()}
    assert results["process"] == results["thread"]


def test_a_crashing_plugin_fails_its_document_not_the_interpreter(engine, tmp_path):
    faulty = compile_c(FAULTY, tmp_path / "faulty.so")
    (tmp_path / "doc.txt").write_text("x")
    with engine.batch(faulty, isolation="process", retry_attempts=2, retry_base="10ms") as batch:
        for doc_id in ["fine-1", "crash-1", "fine-2"]:
            batch.add(tmp_path / "doc.txt", id=doc_id)
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.ok == 2 and stats.failed == 1
    assert results["crash-1"].error == "gave up after 2 attempts: worker crashed: SIGSEGV"
    assert results["crash-1"].attempts == 2
    pids = {results[i].json()["pid"] for i in ("fine-1", "fine-2")}
    assert os.getpid() not in pids


def test_a_processor_registered_by_name_stays_in_the_host(engine, tmp_path):
    @batchcore.processor
    def shout(doc):
        return doc.id.upper()

    engine.register(shout)
    with engine.batch("shout", isolation="process") as batch:
        batch.add(content="a", id="a")
        with pytest.raises(batchcore.OptionError, match="cannot run with isolation=process; use isolation=thread"):
            batch.start()


def test_isolation_values_are_checked(engine):
    with pytest.raises(batchcore.OptionError, match="expected thread, process or auto"):
        engine.batch("text", isolation="fork")
    with pytest.raises(batchcore.OptionError, match="worker.memory_limit"):
        engine.batch("text", worker_memory_limit="lots")
