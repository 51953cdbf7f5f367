"""One batch at a time writes a journal, in this process as in any other."""
from __future__ import annotations

import os
import threading

import pytest
from conftest import batchcore


def test_a_second_batch_on_a_running_journal_is_refused_naming_its_owner(engine, tmp_path, make_docs):
    paths = make_docs(3)
    journal = tmp_path / "run.journal"
    started, release = threading.Event(), threading.Event()

    @batchcore.processor
    def slow(doc):
        started.set()
        release.wait(60)
        return {"done": doc.id}

    with engine.batch(slow, workers=1, output=tmp_path / "first.jsonl", checkpoint=journal) as first:
        for path in paths:
            first.add(path)
        first.start()
        try:
            assert started.wait(60)
            with engine.batch(slow, output=tmp_path / "second.jsonl", checkpoint=journal, resume=True) as second:
                for path in paths:
                    second.add(path)
                with pytest.raises(batchcore.StateError, match=rf"is in use by pid {os.getpid()} since \d{{4}}-"):
                    second.start()
        finally:
            release.set()
        assert first.wait().ok == 3
