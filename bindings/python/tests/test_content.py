"""Documents held in memory: batch.add(content=..., id=...)."""
from __future__ import annotations

import pytest

from conftest import batchcore


def test_content_reaches_the_processor_as_bytes_with_its_metadata():
    seen = {}

    def echo(doc):
        seen[doc.id] = (doc.path, doc.content, doc.metadata)
        return doc.read()

    with batchcore.Engine() as engine, engine.batch(echo, workers=2) as batch:
        batch.add(content=b"\x00\xffbytes", id="blob")
        batch.add(content="Héllo", id="mail", metadata={"from": "ann"})
        batch.add(content=b"", id="empty")
        stats = batch.run()
        assert stats.ok == 3
        assert seen == {"blob": (None, b"\x00\xffbytes", {}), "mail": (None, "Héllo".encode(), {"from": "ann"}),
                        "empty": (None, b"", {})}
        assert {r.id: r.output for r in batch.results()} == {"blob": b"\x00\xffbytes", "mail": "Héllo".encode(),
                                                            "empty": b""}


def test_add_refuses_what_it_cannot_take():
    with batchcore.Engine() as engine, engine.batch(lambda doc: None) as batch:
        with pytest.raises(TypeError, match="needs an id"):
            batch.add(content=b"x")
        with pytest.raises(TypeError, match="not both"):
            batch.add("a.txt", id="a", content=b"x")
        with pytest.raises(TypeError, match="needs a path"):
            batch.add(id="a")
        batch.set("content.max_size", 4)
        with pytest.raises(batchcore.InputError, match="content.max_size"):
            batch.add(content=b"12345", id="big")


def test_a_resume_runs_only_the_unfinished_in_memory_documents(tmp_path):
    output = tmp_path / "out.jsonl"
    calls = []

    def interrupted(doc):
        calls.append(doc.id)
        if doc.id == "c" and len(calls) == 3:
            first.cancel(hard=True)
            raise batchcore.Retry("interrupted")
        return doc.content.upper()

    documents = {"a": b"one", "b": b"two", "c": b"three"}
    with batchcore.Engine() as engine:
        with engine.batch(interrupted, sequential=True, output=output) as first:
            for id, content in documents.items():
                first.add(content=content, id=id)
            stats = first.run()
            assert stats.ok == 2 and stats.state == batchcore.BatchState.CANCELLED
        assert calls == ["a", "b", "c"]
        with engine.batch(interrupted, sequential=True, output=output, resume=True) as resumed:
            for id, content in documents.items():
                resumed.add(content=content, id=id)
            assert resumed.run().ok == 3  # the two finished before count too
        assert calls == ["a", "b", "c", "c"]
    lines = output.read_text().splitlines()
    assert len(lines) == 3 and '"THREE"' in lines[-1]
