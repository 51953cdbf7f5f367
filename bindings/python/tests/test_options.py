"""Keyword arguments map onto the engine's option registry; its errors reach Python intact."""
from __future__ import annotations

import datetime
import time

import pytest
from conftest import batchcore


def test_registry_lists_keys_with_their_keywords():
    options = {o.key: o for o in batchcore.options()}
    assert options["retry.attempts"].keyword == "retry_attempts"
    assert options["workers"].default == "10" and options["workers"].help


@pytest.mark.parametrize("keywords, message", [
    ({"wrkers": 4}, r"unknown batch option 'wrkers' \(did you mean 'workers'\?\); known options: workers, "),
    ({"workers": "many"}, r"invalid value 'many' for option 'workers': expected a whole number from 1 to 4096"),
    ({"workers": 0}, r"invalid value '0' for option 'workers': expected a whole number"),
    ({"retry_attempts": -1}, r"invalid value '-1' for option 'retry.attempts': expected a whole number from 1 to 100"),
    ({"retry_base": "soon"}, r"invalid value 'soon' for option 'retry.base': expected a duration"),
    ({"sequential": "perhaps"}, r"invalid value 'perhaps' for option 'sequential': expected true or false"),
])
def test_wrong_names_and_values_raise_option_error_with_the_engines_message(engine, keywords, message):
    with pytest.raises(batchcore.OptionError, match=message) as caught:
        engine.batch("text", **keywords)
    assert isinstance(caught.value, batchcore.BatchcoreError) and caught.value.code == -3


def test_timeout_keyword_stops_a_slow_python_call(engine, make_docs):
    paths = make_docs(1)

    @batchcore.processor
    def slow(doc):
        while not doc.cancelled:  # the timeout asks the call to stop
            time.sleep(0.005)
        raise batchcore.Retry("stopped")

    with engine.batch(slow, timeout=datetime.timedelta(milliseconds=50), retry_attempts=2,
                      retry_base=0, keep_results=True) as batch:
        batch.add(paths[0])
        stats = batch.run()
        result = next(batch.results())
    assert stats.timeouts == 2 and stats.failed == 1
    assert result.error == "gave up after 2 attempts: timed out after 50ms"


def test_keywords_reach_the_engine(engine, make_docs):
    paths = make_docs(1)

    @batchcore.processor
    def always_busy(doc):
        raise batchcore.Retry("busy")

    with engine.batch(always_busy, workers=3, retry_attempts=2, retry_base=datetime.timedelta(milliseconds=1),
                      keep_results=True) as batch:
        batch.add(paths[0])
        stats = batch.run()
        assert stats.workers == 3
        assert next(batch.results()).attempts == 2


def test_set_accepts_registry_keys_and_keywords(engine):
    with engine.batch("text") as batch:
        batch.set("retry.attempts", 5).set("retry_max", "2s").set("sequential", True)
        with pytest.raises(batchcore.OptionError, match="'retry.max'"):
            batch.set("retry_max", "forever")


def test_engine_options(make_docs):
    paths = make_docs(20)
    with batchcore.Engine(workers=2) as engine, engine.batch(lambda doc: "", workers=8) as batch:
        batch.add_dir(paths[0].parent)
        assert batch.run().workers == 2  # the engine's cap wins
    with pytest.raises(batchcore.OptionError, match="invalid value '0' for option 'max_workers': expected"):
        batchcore.Engine(workers=0)
    with pytest.raises(batchcore.OptionError, match="unknown engine option 'colour'"):
        batchcore.Engine(colour="blue")


def test_processor_and_stages_are_exclusive(engine):
    with pytest.raises(TypeError, match="not both"):
        engine.batch("text", stages=["text"])
