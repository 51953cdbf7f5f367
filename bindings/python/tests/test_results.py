"""Results as named tuples, and the JSON Lines output file."""
from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import ROOT, SAMPLES, batchcore, compile_c


def test_result_fields(engine, make_docs):
    paths = make_docs(2)

    @batchcore.processor
    def describe(doc):
        if doc.id == "bad":
            raise RuntimeError("unreadable scan")
        return {"chars": len(doc.text())}

    with engine.batch(describe) as batch:
        batch.add(paths[0], id="good")
        batch.add(paths[1], id="bad")
        batch.run()
        results = {r.id: r for r in batch.results()}

    good, bad = results["good"], results["bad"]
    assert isinstance(good.status, batchcore.Status) and good._asdict()["id"] == "good"
    with pytest.raises(AttributeError):
        good.status = "failed"  # results are immutable
    assert good._replace(error="x").error == "x" and good.error is None
    assert (good.path, good.status, good.error, good.failed_stage) == (str(paths[0]), "ok", None, None)
    assert str(good.status) == "ok" and good.json() == {"chars": len(paths[0].read_text())}
    assert good.text == good.output.decode() and good.duration_ms > 0 and good.attempts == 1
    assert (bad.status, bad.output, bad.failed_stage, bad.error) == ("failed", None, 0, "RuntimeError: unreadable scan")
    assert bad.text == ""
    with pytest.raises(ValueError, match="'bad' has no output"):
        bad.json()


def test_json_parses_outputs_with_or_without_whitespace_and_names_bad_ones(engine):
    @batchcore.processor
    def emit(doc):
        return doc.content  # the bytes given as the document's content

    outputs = {"compact": b'{"a":[1,2]}', "spaced": b' { "a" : [1, 2] }\n', "text": b"not json",
               "trailing": b'{"a":1} x', "broken": b'{"a":}'}
    with engine.batch(emit) as batch:
        batch.add_contents(outputs)
        batch.run()
        results = {r.id: r for r in batch.results()}
    assert results["compact"].json() == results["spaced"].json() == {"a": [1, 2]}
    for id, message in (("text", "Expecting value"), ("trailing", "Extra data"), ("broken", "Expecting value")):
        with pytest.raises(json.JSONDecodeError, match=message):
            results[id].json()


def test_results_carry_what_the_output_line_carries(engine, make_docs, tmp_path):
    # metered reports units and gives list prices; shape returns JSON and fails "bad".
    metered = compile_c(ROOT / "Tests" / "c" / "plugins" / "metered.c", tmp_path / "metered.so")
    paths = make_docs(3)

    @batchcore.processor
    def shape(doc):
        if doc.id == "bad":
            raise RuntimeError("no shape")
        return {"bytes": len(doc.input)}

    output = tmp_path / "out.jsonl"
    with engine.batch(stages=[str(metered), shape], output=output) as batch:
        batch.add(paths[0], id="plain")
        batch.add(paths[1], id="tagged", metadata={"lang": "en"})
        batch.add(paths[2], id="bad")
        batch.run()
        results = {r.id: r for r in batch.results()}
    lines = {record["id"]: record for record in map(json.loads, output.read_text().splitlines())}

    assert sorted(results) == sorted(lines) == ["bad", "plain", "tagged"]
    for id, result in results.items():
        line = lines[id]
        assert result.output_is_json == isinstance(line["output"], dict), id
        assert result.units == line.get("units", 0) == 2, id  # metered's 2 units a call
        assert result.cost_usd == pytest.approx(line.get("cost_usd", 0)), id
        assert result.failed_stage_label == line.get("failed_stage"), id
        assert result.metadata == line.get("metadata"), id
        assert result.duplicate_of is None and "duplicate_of" not in line, id
    assert results["tagged"].metadata == {"lang": "en"} and results["plain"].metadata is None
    assert results["bad"].failed_stage_label == "shape" and not results["bad"].output_is_json
    assert results["plain"].output_is_json and results["plain"].json() == {"bytes": 6}
    assert results["plain"].cost_usd == pytest.approx((100 * 2.0 + 50 * 8.0) / 1e6)  # metered's list prices


def test_a_reused_result_names_its_original(engine, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ["a.txt", "b.txt"]:
        (docs / name).write_text("same content\n")
    output = tmp_path / "out.jsonl"
    with engine.batch("text", output=output, checkpoint=tmp_path / "journal", dedupe=True, sequential=True) as batch:
        batch.add(docs / "a.txt", id="a")
        batch.add(docs / "b.txt", id="b")
        batch.run()
        results = {r.id: r for r in batch.results()}
    lines = {record["id"]: record for record in map(json.loads, output.read_text().splitlines())}
    assert (results["a"].duplicate_of, results["b"].duplicate_of) == (None, "a")
    assert lines["b"]["duplicate_of"] == "a" and "duplicate_of" not in lines["a"]


def test_output_file_and_results_agree(engine, tmp_path):
    output = tmp_path / "results.jsonl"
    with engine.batch("text", output=output, workers=4) as batch:
        batch.add_dir(SAMPLES, glob="*.txt")
        stats = batch.run()
        kept = {r.id: r.json() for r in batch.results()}
    written = {record["id"]: record["output"] for record in map(json.loads, output.read_text().splitlines())}
    assert len(written) == stats.ok == len(kept) > 0
    assert written == kept


def test_keep_results_off_keeps_nothing_in_memory(engine, make_docs):
    paths = make_docs(10)
    with engine.batch(lambda doc: "x", keep_results=False) as batch:
        batch.add_dir(paths[0].parent)
        assert batch.run().ok == 10
        assert list(batch.results()) == []


def test_results_can_be_read_while_running(engine, make_docs):
    paths = make_docs(50)
    gate = threading.Event()

    @batchcore.processor
    def gated(doc):
        if not doc.id.endswith("00000.txt"):
            gate.wait(10)
        return "done"

    with engine.batch(gated, sequential=True) as batch:
        batch.add_dir(paths[0].parent)
        batch.start()
        while batch.stats().finished < 1:
            time.sleep(0.001)
        early = list(batch.results())
        gate.set()
        batch.wait()
        assert [r.id for r in early] == [str(paths[0])]
        assert len(list(batch.results())) == 50


def test_results_can_be_followed_while_the_batch_runs(engine):
    gate = threading.Event()

    @batchcore.processor
    def gated(doc):
        if int(doc.id) >= 10:
            gate.wait(30)
        return {"n": int(doc.id)}

    with engine.batch(gated, workers=4) as batch:
        for i in range(600):
            batch.add(content=b"", id=str(i))
        with pytest.raises(batchcore.StateError, match="start"):
            next(batch.results(follow=True))
        batch.start()
        read = []
        for result in batch.results(follow=True):  # more than one chunk of 256
            read.append(result.json()["n"])
            if len(read) == 10:
                assert sorted(read) == list(range(10))  # the held documents have not finished
                gate.set()
        assert batch.wait().ok == 600
    assert sorted(read) == list(range(600))


def test_following_a_cancelled_batch_ends_with_what_finished(engine):
    @batchcore.processor
    def slow(doc):
        time.sleep(0.01)
        return "x"

    with engine.batch(slow, workers=2) as batch:
        for i in range(400):
            batch.add(content=b"", id=str(i))
        batch.start()
        followed = []
        for result in batch.results(follow=True):
            followed.append(result.id)
            if len(followed) == 5:
                batch.cancel()
        batch.wait()
        finished = [r.id for r in batch.results()]
    assert followed == finished and 5 <= len(finished) < 400


def test_an_output_file_keeps_a_journal_beside_it_as_the_cli_does(engine, make_docs, tmp_path):
    paths = make_docs(5)
    identity = batchcore.processor(name="identity")(lambda doc: doc.id)
    output = tmp_path / "out.jsonl"
    with engine.batch(identity, output=output) as batch:
        batch.add_dir(paths[0].parent)
        assert batch.run().ok == 5
    assert (tmp_path / "out.jsonl.journal").is_file()

    with engine.batch(identity, output=output, resume=True) as batch:  # the journal it kept resumes
        batch.add_dir(paths[0].parent)
        stats = batch.run()
    assert stats.resumed == 5 and len(output.read_text().splitlines()) == 5

    with engine.batch(identity, output=tmp_path / "none.jsonl", checkpoint=False) as batch:
        batch.add_dir(paths[0].parent)
        assert batch.run().ok == 5
    assert not (tmp_path / "none.jsonl.journal").exists()

    with engine.batch(identity, output=tmp_path / "elsewhere.jsonl", checkpoint=tmp_path / "j") as batch:
        batch.add_dir(paths[0].parent)
        batch.run()
    assert (tmp_path / "j").is_file() and not (tmp_path / "elsewhere.jsonl.journal").exists()
