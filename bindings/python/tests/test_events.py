"""The event callback: every document, progress, logs, and the final event last."""
from __future__ import annotations

import threading
import time

import pytest
from conftest import batchcore

EventKind = batchcore.EventKind


def test_callback_receives_every_document_and_the_final_event_last(engine, make_docs):
    paths = make_docs(100)
    events = []
    threads = set()
    inside = []
    overlapped = []

    def on_event(event):
        overlapped.append(bool(inside))
        inside.append(event)
        events.append(event)
        threads.add(threading.get_ident())
        time.sleep(0.0005)
        inside.pop()

    @batchcore.processor
    def half_fail(doc):
        if int(doc.id[-6:-4]) % 2:
            raise ValueError("odd")
        return "even"

    with engine.batch(half_fail, workers=4, progress_interval="10ms") as batch:
        batch.add_dir(paths[0].parent)
        final = batch.run(progress=on_event)

    documents = [e for e in events if e.kind == EventKind.DOCUMENT]
    assert sorted(e.id for e in documents) == sorted(str(p) for p in paths)
    assert {e.status for e in documents} == {batchcore.Status.OK, batchcore.Status.FAILED}
    assert all(e.error == "ValueError: odd" and e.attempts == 1 for e in documents if e.status == "failed")
    assert all(e.path == e.id and e.duration_ms >= 0 for e in documents)
    assert events[-1].kind == EventKind.FINISHED and [e.kind for e in events].count(EventKind.FINISHED) == 1
    assert events[-1].stats.finished == 100 and events[-1].stats == final
    assert not any(overlapped)  # one event at a time
    assert threading.get_ident() not in threads and len(threads) == 1


def test_progress_events_arrive_while_running(engine, make_docs):
    paths = make_docs(30)
    progress = []
    with engine.batch(lambda doc: time.sleep(0.01), workers=2, progress_interval="20ms") as batch:
        batch.add_dir(paths[0].parent)
        batch.run(progress=lambda e: progress.append(e) if e.kind == EventKind.PROGRESS else None)
    assert len(progress) >= 3
    assert all(e.stats.state == "running" and e.id is None for e in progress)


def test_processor_logs_become_log_events(engine, make_docs):
    paths = make_docs(1)
    logs = []

    @batchcore.processor
    def chatty(doc):
        doc.log("page 3 is blank", level="warning")
        return ""

    with engine.batch(chatty) as batch:
        batch.add(paths[0], id="chatty-doc")
        batch.run(progress=lambda e: logs.append(e) if e.kind == EventKind.LOG else None)
    assert [(e.level, e.id) for e in logs] == [("warning", "chatty-doc")]
    assert logs[0].message.endswith("page 3 is blank")


def test_an_exception_in_the_callback_cancels_the_batch_and_is_raised_by_run(engine, make_docs):
    paths = make_docs(200)

    def fussy(event):
        if event.kind == EventKind.DOCUMENT:
            raise RuntimeError("display went away")

    with engine.batch(lambda doc: time.sleep(0.005), workers=2) as batch:
        batch.add_dir(paths[0].parent)
        with pytest.raises(RuntimeError, match="display went away"):
            batch.run(progress=fussy)
        assert batch.stats().state == "cancelled"


def test_the_callback_may_read_stats_and_cancel_but_not_wait_or_close(engine, make_docs):
    paths = make_docs(200)
    seen = {}

    def controlling(event):
        if event.kind == EventKind.DOCUMENT and "wait" not in seen:
            seen["stats"] = batch.stats()
            for name, action in (("wait", batch.wait), ("close", batch.close)):
                try:
                    action()
                except batchcore.StateError as error:
                    seen[name] = str(error)
            batch.cancel()

    with engine.batch(lambda doc: time.sleep(0.005), workers=2) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run(progress=controlling)
    assert stats.state == "cancelled" and seen["stats"].finished >= 1
    assert "cannot wait for a batch from its own event handler" in seen["wait"]
    assert "cannot close a batch from its own event callback" in seen["close"]
