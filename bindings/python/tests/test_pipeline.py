"""Mixing C plugin stages and Python stages in one batch."""
from __future__ import annotations

import json

import pytest
from conftest import SAMPLES, batchcore


def test_text_plugin_then_a_python_stage(engine, make_docs):
    paths = make_docs(30)

    @batchcore.processor
    def summarize(doc):
        described = json.loads(doc.input)  # the text plugin's JSON
        return {"id": doc.id, "words": described["words"], "stage": doc.stage}

    with engine.batch(stages=["text", summarize], workers=4) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
        results = {r.id: r for r in batch.results()}

    assert stats.ok == 30
    for i, path in enumerate(paths):
        result = results[str(path)]
        assert result.json() == {"id": str(path), "words": 2 + i % 17, "stage": 1}
        assert result.attempts == 1  # one attempt through both stages, none retried


def test_a_python_stage_feeds_the_text_plugin(engine, make_docs):
    paths = make_docs(1, text=lambda i: "ignored")

    with engine.batch(stages=[lambda doc: "three short words\n", "text"]) as batch:
        batch.add(paths[0])
        batch.run()
        described = next(batch.results()).json()
    assert (described["bytes"], described["words"], described["lines"]) == (18, 3, 1)


def test_stage_options_as_tuples_and_set_stage(engine, make_docs):
    paths = make_docs(3, text=lambda i: "x" * (10 ** i))  # 1, 10 and 100 bytes

    with engine.batch(stages=[("text", {"max_bytes": 50}), lambda doc: doc.input]) as batch:
        batch.add_dir(paths[0].parent)
        batch.run()
        results = sorted(batch.results(), key=lambda r: r.id)
    assert [r.status for r in results] == ["ok", "ok", "failed"]
    assert results[2].failed_stage == 0 and "max_bytes" in results[2].error

    with engine.batch(stages=[batchcore.Stage("text", label="describe"), lambda doc: doc.input]) as batch:
        batch.set_stage("describe", "max_bytes", "5")
        batch.add_dir(paths[0].parent)
        assert batch.run().failed == 2


def test_manifest_metadata_reaches_python_stages(engine):
    seen = {}

    @batchcore.processor
    def record(doc):
        seen[doc.id] = doc.metadata
        return json.loads(doc.input)["sha256"]

    with engine.batch(stages=["text", record]) as batch:
        batch.add_manifest(SAMPLES / "manifest.jsonl")
        stats = batch.run()
    manifest = [json.loads(line) for line in (SAMPLES / "manifest.jsonl").read_text().splitlines() if line.strip()]
    assert stats.ok == len(manifest)
    assert seen == {entry["id"]: entry.get("metadata", {}) for entry in manifest}


def test_unknown_stage_option_is_refused_at_start(engine, make_docs):
    paths = make_docs(1)
    with engine.batch(stages=[("text", {"max_byts": "1MiB"})]) as batch:
        batch.add(paths[0])
        with pytest.raises(batchcore.OptionError, match="unknown 'text' option 'max_byts' .*did you mean 'max_bytes'"):
            batch.start()
