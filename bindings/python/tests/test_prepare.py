"""prepare=: set-up run once per batch stage, its value handed to every call."""
from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import batchcore


def test_prepare_runs_once_per_stage_and_every_call_sees_its_value():
    runs = []
    lock = threading.Lock()

    def research():
        with lock:
            runs.append("research")
        return {"target": "ACME"}

    @batchcore.processor(prepare=research)
    def adjust(doc):
        return f"{doc.content.decode()} for {doc.shared['target']}"

    async def note(doc):
        await asyncio.sleep(0)
        return doc.input.decode() + f" ({doc.shared})"

    with batchcore.Engine() as engine, engine.batch(adjust, workers=4) as batch:
        batch.add_stage(note, prepare=lambda: runs.append("note") or "checked")
        for i in range(50):
            batch.add(content=f"cv-{i}", id=str(i))
        assert batch.run().ok == 50
        outputs = {r.id: r.output for r in batch.results()}
    assert sorted(runs) == ["note", "research"]
    assert outputs["7"] == b"cv-7 for ACME (checked)"


def test_two_batches_of_one_processor_each_prepare_their_own():
    count = iter(range(100))

    @batchcore.processor(prepare=lambda: next(count))
    def which(doc):
        return str(doc.shared)

    with batchcore.Engine() as engine:
        outputs = []
        for _ in range(2):
            with engine.batch(which) as batch:
                batch.add(content="x", id="a")
                batch.run()
                outputs += [r.output for r in batch.results()]
    assert outputs == [b"0", b"1"]


def test_two_async_batches_running_at_once_each_keep_their_own_prepared_value():
    count = iter(range(100))

    @batchcore.processor(prepare=lambda: next(count))
    async def which(doc):
        await asyncio.sleep(0.001)
        return str(doc.shared)

    with batchcore.Engine() as engine, engine.batch(which) as first, engine.batch(which) as second:
        for batch in (first, second):
            for i in range(20):
                batch.add(content="x", id=str(i))
            batch.start()
        outputs = [{r.output for r in batch.results()} for batch in (first, second) if batch.wait().ok == 20]
    assert outputs == [{b"0"}, {b"1"}]


def test_a_failing_prepare_stops_the_start_and_plugins_refuse_prepare():
    def broken():
        raise RuntimeError("no network")

    with batchcore.Engine() as engine, engine.batch(lambda doc: None) as batch:
        batch.add_stage(lambda doc: None, prepare=broken)
        batch.add(content="x", id="a")
        with pytest.raises(RuntimeError, match="no network"):
            batch.start()
        with pytest.raises(TypeError, match="Python processors"):
            batch.add_stage("text", prepare=broken)


# ---- prepare's value is kept in the journal ----------------------------------

def _prepared_batch(engine, output, prepare, fail=None, **options):
    """A batch of three documents whose stage `echo` shows doc.shared's type and
    value; the document `fail` fails (so that a resume with retry_failed runs it)."""
    @batchcore.processor(name="echo", prepare=prepare)
    def echo(doc):
        if doc.id == fail:
            raise RuntimeError("failed on purpose")
        return f"{type(doc.shared).__name__}:{doc.shared!r}"

    batch = engine.batch(echo, workers=2, output=output, retry_attempts=1, **options)
    for i in range(3):
        batch.add(content=f"d{i}", id=str(i))
    return batch


def _counting(log, value):
    """A prepare function that appends a line to `log` each time it runs, then returns `value`."""
    def research():
        with open(log, "a") as calls:
            calls.write("prepared\n")
        return value
    return research


def _run_then_resume(tmp_path, first, then, prepare_again=False):
    """Runs a batch whose document "2" fails, then resumes it in a fresh
    engine with retry_failed; the output of "2" on resume, and how many
    times prepare ran in all."""
    log, output = tmp_path / "prepare.log", tmp_path / "out.jsonl"
    with batchcore.Engine() as engine, _prepared_batch(engine, output, _counting(log, first), fail="2") as batch:
        assert batch.run().failed == 1
    with batchcore.Engine() as engine, _prepared_batch(engine, output, _counting(log, then), resume=True,
                                                       retry_failed=True) as batch:
        if prepare_again:
            batch.set_stage(None, "prepare_again", True)
        stats = batch.run()
        assert (stats.ok, stats.failed) == (3, 0)
        outputs = {r.id: r.output for r in batch.results()}
    return outputs["2"], log.read_text().count("\n")


@pytest.mark.parametrize("value", [b"\x00raw", "texte", {"target": "ACME", "n": [1, 2]}, 7, None],
                         ids=["bytes", "str", "dict", "int", "none"])
def test_a_resume_takes_prepare_from_the_journal_with_its_type(tmp_path, value):
    output, prepared = _run_then_resume(tmp_path, value, "not this")
    assert output == f"{type(value).__name__}:{value!r}".encode()
    assert prepared == 1


def test_prepare_again_prepares_anew_on_resume(tmp_path):
    assert _run_then_resume(tmp_path, "first", "second", prepare_again=True) == (b"str:'second'", 2)


def test_a_resume_in_the_same_engine_names_the_same_processors(tmp_path):
    """A batch run again in its engine, with the processors it had (a
    prepare of the processor's own, one given to the stage), resumes its
    journal without force_resume; prepare's value comes from the journal."""
    runs = []

    @batchcore.processor(prepare=lambda: runs.append("echo") or "first")
    def echo(doc):
        if doc.id == "2" and runs.count("run") == 1:
            raise RuntimeError("failed on purpose")
        return f"{doc.content.decode()} {doc.shared}"

    def tag(doc):
        return f"{doc.input.decode()} [{doc.shared}]"

    def tagged():
        runs.append("tag")
        return "tagged"

    with batchcore.Engine() as engine:
        for resume in (False, True):
            runs.append("run")
            with engine.batch(echo, output=tmp_path / "out.jsonl", retry_attempts=1,
                              resume=resume, retry_failed=resume) as batch:
                batch.add_stage(tag, prepare=tagged)
                for i in range(3):
                    batch.add(content=f"d{i}", id=str(i))
                stats = batch.run()
                outputs = [r.output for r in batch.results()]
        assert (stats.ok, stats.failed, stats.resumed) == (3, 0, 2)
        assert outputs == [b"d2 first [tagged]"]
    assert runs == ["run", "echo", "tag", "run"]


def test_two_processors_of_one_name_with_prepare_are_told_apart_or_refused():
    """Stages of one function with different prepare functions are distinct
    processors; two different @processor objects of one name are refused."""
    def show(doc):
        return f"{doc.input.decode() if doc.input else ''}{doc.shared}"

    with batchcore.Engine() as engine:
        with engine.batch(stages=[]) as batch:
            batch.add_stage(show, prepare=lambda: "a")
            batch.add_stage(show, prepare=lambda: "b")
            batch.add(content="x", id="x")
            assert batch.run().ok == 1
            assert [r.output for r in batch.results()] == [b"ab"]
        with engine.batch(batchcore.processor(name="same", prepare=lambda: 1)(show)):
            pass
        with pytest.raises(batchcore.InvalidArgumentError, match="'same' is already registered"):
            engine.batch(batchcore.processor(name="same", prepare=lambda: 2)(show))


def test_a_prepare_value_the_journal_cannot_keep_is_refused_naming_the_function(tmp_path):
    def connect():
        return object()

    with batchcore.Engine() as engine, _prepared_batch(engine, tmp_path / "out.jsonl", connect) as batch:
        with pytest.raises(TypeError, match=r"prepare function '.*connect' returned a value of type 'object'.*"
                                            r"return bytes, str or a JSON value .* create the object"):
            batch.start()
