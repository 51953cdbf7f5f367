"""Batch(sink=...): results into a database table, exactly once with the journal."""
from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import batchcore


def test_sink_keyword_writes_every_result_into_a_table(engine, make_docs, tmp_path):
    paths = make_docs(30)

    @batchcore.processor
    def count(doc):
        return {"chars": len(doc.text())}

    database = tmp_path / "results.db"
    with engine.batch(count, checkpoint=tmp_path / "run.journal", sink=f"sqlite://{database}?table=counts") as batch:
        for path in paths:
            batch.add(path)
        batch.run()
    connection = sqlite3.connect(database)
    rows = {doc_id: json.loads(output) for doc_id, output in connection.execute("SELECT id, output FROM counts")}
    connection.close()
    assert rows == {str(path): {"chars": len(path.read_text())} for path in paths}


def test_a_sink_without_a_journal_is_refused(engine, tmp_path):
    @batchcore.processor
    def nothing(doc):
        return None

    with engine.batch(nothing, checkpoint=False, sink=f"sqlite://{tmp_path / 'r.db'}") as batch:
        batch.add(str(tmp_path), id="x")
        with pytest.raises(batchcore.OptionError, match="a sink needs the journal"):
            batch.run()


def test_a_refused_sink_url_is_named_without_its_password(engine, tmp_path):
    @batchcore.processor
    def nothing(doc):
        return None

    with pytest.raises(batchcore.OptionError) as refused:
        with engine.batch(nothing, checkpoint=tmp_path / "run.journal", sink="postgresql://ann:hunter22@db/crm?table=a-b"):
            pass
    assert "postgresql://ann@db/crm" in str(refused.value) and "hunter22" not in str(refused.value)
