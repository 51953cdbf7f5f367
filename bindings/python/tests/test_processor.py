"""Processors written in Python, run by the engine's worker threads."""
from __future__ import annotations

import gc
import json
import threading
import time

import pytest
from conftest import batchcore


def test_two_thousand_documents_with_eight_workers_give_correct_results(engine, make_docs):
    paths = make_docs(2000)

    @batchcore.processor
    def count_words(doc):
        text = doc.text()
        return {"id": doc.id, "words": len(text.split()), "first": text.split("\n", 1)[0]}

    with engine.batch(count_words, workers=8) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
        results = {r.id: r for r in batch.results()}

    assert stats.ok == 2000 and stats.failed == 0 and stats.workers == 8
    assert len(results) == 2000
    for i, path in enumerate(paths):
        result = results[str(path)]
        assert result.status == batchcore.Status.OK == "ok"
        assert result.json() == {"id": str(path), "words": 2 + i % 17, "first": f"document {i}"}
        assert result.attempts == 1 and result.error is None


def test_an_exception_fails_only_its_document(engine, make_docs):
    paths = make_docs(50)

    @batchcore.processor
    def picky(doc):
        if doc.id.endswith("doc-00013.txt"):
            raise KeyError("no such field")
        return "fine"

    with engine.batch(picky) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
        results = {r.id: r for r in batch.results()}

    assert (stats.ok, stats.failed) == (49, 1)
    failed = results[str(paths[13])]
    assert failed.status == "failed"
    assert failed.error == "KeyError: 'no such field'"
    assert failed.failed_stage == 0 and failed.output is None and failed.attempts == 1
    assert all(r.text == "fine" for r in results.values() if r is not failed)


def test_retry_tries_again_until_it_succeeds_or_gives_up(engine, make_docs):
    paths = make_docs(3)
    calls = []

    @batchcore.processor
    def flaky(doc):
        calls.append((doc.id, doc.attempt))
        if doc.id.endswith("00000.txt") and doc.attempt < 3:
            raise batchcore.Retry("busy", after=0.01)
        if doc.id.endswith("00001.txt"):
            raise batchcore.Retry("still busy", after=0)
        return f"attempt {doc.attempt}"

    with engine.batch(flaky, retry_attempts=4, retry_base="1ms") as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
        results = {r.id: r for r in batch.results()}

    recovered, exhausted, first_time = (results[str(p)] for p in paths)
    assert recovered.status == "ok" and recovered.attempts == 3 and recovered.text == "attempt 3"
    assert exhausted.status == "failed" and exhausted.attempts == 4
    assert exhausted.error == "gave up after 4 attempts: still busy"
    assert first_time.attempts == 1
    assert sorted(a for i, a in calls if i == str(paths[0])) == [1, 2, 3]
    assert stats.retries == 2 + 3


def test_retry_after_delays_the_next_attempt(engine, make_docs):
    paths = make_docs(1)
    attempt_times = []

    @batchcore.processor
    def rate_limited(doc):
        attempt_times.append(time.monotonic())
        if doc.attempt == 1:
            raise batchcore.Retry("429 Too Many Requests", after=0.3)
        return "ok"

    with engine.batch(rate_limited, retry_base=0) as batch:
        batch.add(paths[0])
        batch.run()
    assert len(attempt_times) == 2
    assert attempt_times[1] - attempt_times[0] >= 0.29


def test_outputs_by_return_type(engine, make_docs):
    paths = make_docs(5)
    outputs = [
        "texte accentué",
        b"\x00\xffbinary",
        {"nested": {"list": [1, 2.5, None, True]}, "text": "é"},
        ["a", 1],
        None,
    ]

    @batchcore.processor
    def by_index(doc):
        return outputs[int(doc.id[-9:-4])]

    with engine.batch(by_index) as batch:
        batch.add_dir(paths[0].parent)
        batch.run()
        results = {r.id: r for r in batch.results()}

    got = [results[str(p)] for p in paths]
    assert got[0].text == "texte accentué"
    assert got[1].output == b"\x00\xffbinary"
    assert got[2].json() == outputs[2]
    assert got[3].json() == ["a", 1]
    assert got[4].status == "ok" and got[4].output is None


def test_json_output_is_embedded_in_the_output_file(engine, make_docs, tmp_path):
    paths = make_docs(1)
    output = tmp_path / "out.jsonl"

    with engine.batch(lambda doc: {"answer": 42}, output=output) as batch:
        batch.add(paths[0], id="one")
        batch.run()
    record = json.loads(output.read_text())
    assert record["id"] == "one" and record["output"] == {"answer": 42}


def test_unsupported_return_values_fail_the_document_with_a_clear_message(engine, make_docs):
    paths = make_docs(2)

    @batchcore.processor
    def bad(doc):
        return 42 if doc.id.endswith("0.txt") else {"not json": {1, 2}}

    with engine.batch(bad) as batch:
        batch.add_dir(paths[0].parent)
        batch.run()
        errors = sorted(r.error for r in batch.results())
    assert errors[0] == "TypeError: Object of type set is not JSON serializable"
    assert errors[1] == "TypeError: a processor returns str, bytes, dict, list, Result or None, not int"


def test_result_reports_partial_status_failure_and_usage(engine, make_docs):
    paths = make_docs(3)

    @batchcore.processor
    def explicit(doc):
        n = int(doc.id[-5])
        if n == 0:
            return batchcore.Result("half", status="partial", error="page 2 unreadable",
                                    input_tokens=100, output_tokens=7)
        if n == 1:
            return batchcore.Result(status=batchcore.Status.FAILED, error="not a contract")
        doc.add_usage(input_tokens=10)
        doc.add_usage(output_tokens=3)
        return batchcore.Result({"ok": True}, input_tokens=1)

    with engine.batch(explicit) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
        partial, failed, ok = (r for r in sorted(batch.results(), key=lambda r: r.id))

    assert (partial.status, partial.text, partial.error) == ("partial", "half", "page 2 unreadable")
    assert (partial.input_tokens, partial.output_tokens) == (100, 7)
    assert (failed.status, failed.error) == ("failed", "not a contract")
    assert ok.json() == {"ok": True} and (ok.input_tokens, ok.output_tokens) == (11, 3)
    assert (stats.input_tokens, stats.output_tokens) == (111, 10)


def test_doc_carries_id_path_metadata_stage_and_attempt(engine, make_docs, tmp_path):
    paths = make_docs(1)
    seen = []

    @batchcore.processor
    def inspect(doc):
        seen.append(doc)
        return doc.text()

    with engine.batch(inspect) as batch:
        batch.add(paths[0], id="contract-7", metadata={"lang": "fr", "pages": 3})
        batch.run()

    doc = seen[0]
    assert (doc.id, doc.path, doc.stage, doc.attempt) == ("contract-7", str(paths[0]), 0, 1)
    assert doc.metadata == {"lang": "fr", "pages": 3}
    assert doc.input is None and doc.text() == paths[0].read_text()
    with pytest.raises(batchcore.StateError, match="only during the processor call"):
        doc.add_usage(1, 1)


def test_processor_names_and_registration(engine, make_docs):
    paths = make_docs(1)

    @batchcore.processor(name="shout", description="Upper-cases the text")
    def upper(doc):
        return doc.text().upper()

    assert upper.name == "shout" and upper(type("D", (), {"text": lambda self: "hi"})()) == "HI"
    engine.register(upper)
    engine.register(upper)  # the same processor again: nothing to do
    listed = {p["name"]: p for p in engine.processors()}
    assert listed["shout"]["description"] == "Upper-cases the text" and listed["shout"]["kind"] == "host"

    with engine.batch("shout") as batch:  # by name, once registered
        batch.add(paths[0])
        batch.run()
        assert next(batch.results()).text == paths[0].read_text().upper()

    with pytest.raises(batchcore.InvalidArgumentError, match="'shout' is already registered"):
        engine.register(batchcore.processor(name="shout")(lambda doc: ""))


def test_workers_call_python_processors_in_parallel(engine, make_docs):
    paths = make_docs(40)
    lock = threading.Lock()
    calls = [0]
    # The first eight calls meet: each waits until all eight run at once.
    all_eight = threading.Barrier(8, timeout=60)

    @batchcore.processor
    def slow(doc):
        with lock:
            calls[0] += 1
            first_eight = calls[0] <= 8
        if first_eight:
            all_eight.wait()  # raises (and the document fails) if they never run together
        time.sleep(0.001)  # releases the GIL, like I/O
        return "done"

    with engine.batch(slow, workers=8) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
    assert stats.ok == 40 and calls[0] == 40


def test_processor_stays_callable_after_python_drops_every_reference(make_docs):
    paths = make_docs(20)
    with batchcore.Engine() as engine:
        engine.register(batchcore.processor(name="orphan")(lambda doc: doc.id.upper()))
        gc.collect()  # only the engine's registration keeps the callback alive now
        with engine.batch("orphan", workers=4) as batch:
            batch.add_dir(paths[0].parent)
            assert batch.run().ok == 20


def test_prices_turn_usage_into_cost_and_a_budget_stops_the_batch(engine, make_docs):
    paths = make_docs(20)

    @batchcore.processor
    def billed(doc):
        doc.add_usage(input_tokens=1000, output_tokens=100)
        doc.add_units(2)
        return "done"

    with engine.batch(billed, workers=1, price_input=5, price_output=20) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
    per_doc = (1000 * 5 + 100 * 20) / 1e6  # $0.007
    assert stats.ok == 20 and stats.units == 40
    assert stats.cost_usd == pytest.approx(20 * per_doc)
    assert stats.estimated_total_cost_usd == pytest.approx(20 * per_doc)
    assert not stats.budget_reached

    with engine.batch(billed, workers=1, budget="0.035",
                      price_input=5, price_output=20) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
    assert stats.budget_reached and stats.state == "cancelled"
    assert stats.ok == 5 and stats.cost_usd <= 0.035 + 1e-12


def test_usage_counts_are_never_negative_and_saturate_instead_of_wrapping(engine, make_docs):
    paths = make_docs(3)
    refused = []

    @batchcore.processor
    def counting(doc):
        if doc.id.endswith("0.txt"):
            for bad in ((-1, 0), (0, -1), (2**64, 0)):
                try:
                    doc.add_usage(*bad)
                except ValueError as error:
                    refused.append(str(error))
            try:
                doc.add_units(-1)
            except ValueError as error:
                refused.append(str(error))
            doc.add_usage(2**64 - 1, 5)
            doc.add_usage(2**64 - 1, 2**64 - 1)
            return "huge"
        if doc.id.endswith("1.txt"):
            return batchcore.Result("refund", input_tokens=-5)
        doc.add_usage(2**63, 1)
        return "huge too"

    with engine.batch(counting, workers=1) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
        results = {r.id[-5:]: r for r in batch.results()}

    assert len(refused) == 4 and "input_tokens must be between 0 and 2**64 - 1, not -1" in refused[0]
    assert "units must be between 0 and 2**64 - 1, not -1" in refused[3]
    limit = 2**63 - 1
    assert (results["0.txt"].input_tokens, results["0.txt"].output_tokens) == (limit, limit)
    assert results["1.txt"].status == "failed"
    assert "ValueError: Result.input_tokens must be between 0 and 2**64 - 1, not -5" in results["1.txt"].error
    assert (results["2.txt"].input_tokens, results["2.txt"].output_tokens) == (limit, 1)
    assert (stats.input_tokens, stats.output_tokens) == (limit, limit)
