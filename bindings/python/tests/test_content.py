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


def test_add_contents_adds_many_documents_in_one_call():
    seen = {}

    def echo(doc):
        seen[doc.id] = (doc.content, doc.metadata)
        return doc.read()

    many = {f"doc-{i}": f"text {i}" if i % 2 else b"\x00bytes %d" % i for i in range(1000)}
    with batchcore.Engine() as engine, engine.batch(echo, workers=4) as batch:
        batch.add_contents(many)
        batch.add_contents([("mail", "Héllo", {"from": "ann"}), ("blob", b"\x00\xff"), ("empty", b"", '{"n":1}')])
        batch.add_contents({})  # nothing to add
        assert batch.run().ok == 1003
        outputs = {r.id: r.output for r in batch.results()}
    expected = {id: content.encode() if isinstance(content, str) else content for id, content in many.items()}
    assert outputs == {**expected, "mail": "Héllo".encode(), "blob": b"\x00\xff", "empty": b""}
    assert seen["mail"] == ("Héllo".encode(), {"from": "ann"}) and seen["empty"] == (b"", {"n": 1})
    assert seen["doc-1"] == (b"text 1", {})


def test_add_contents_adds_all_or_nothing():
    with batchcore.Engine() as engine, engine.batch(lambda doc: doc.read()) as batch:
        batch.add(content=b"one", id="a")
        with pytest.raises(batchcore.InputError, match='document 3 of 3: duplicate id "b"'):
            batch.add_contents([("b", b"1"), ("c", b"2"), ("b", b"3")])  # "b" twice
        with pytest.raises(batchcore.InputError, match='document 2 of 2: .*"a"'):
            batch.add_contents({"d": b"4", "a": b"again"})  # "a" was added before
        with pytest.raises(batchcore.InputError, match="metadata"):
            batch.add_contents([("e", b"5", "[1, 2]")])
        batch.set("content.max_size", 4)
        with pytest.raises(batchcore.InputError, match="content.max_size"):
            batch.add_contents({"f": b"12", "big": b"12345"})
        with pytest.raises(TypeError, match="id is a str"):
            batch.add_contents([(1, b"x")])
        with pytest.raises(TypeError, match="bytes or str"):
            batch.add_contents([("g", 5)])
        with pytest.raises(TypeError, match=r"\(id, content\)"):
            batch.add_contents([("h",)])
        assert batch.run().ok == 1
        assert [r.id for r in batch.results()] == ["a"]
