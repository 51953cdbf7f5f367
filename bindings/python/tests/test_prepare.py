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
