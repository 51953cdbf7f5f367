"""Controlling a running batch: stats while it runs, waiting, cancelling from another thread."""
from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time

import pytest
from conftest import batchcore


def slow_processor(seconds: float) -> batchcore.Processor:
    @batchcore.processor(name="slow")
    def slow(doc):
        time.sleep(seconds)
        return doc.id
    return slow


def wait_for(condition, what, timeout=60):
    """Waits until condition() is true; fails the test after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.005)


def test_stats_are_readable_while_running(engine, make_docs):
    paths = make_docs(200)
    lock = threading.Lock()
    calls = [0]
    release = threading.Event()

    @batchcore.processor
    def held(doc):
        with lock:
            calls[0] += 1
            quick = calls[0] <= 10
        if not quick:
            release.wait(60)  # the rest wait while the test looks
        return doc.id

    with engine.batch(held, workers=4) as batch:
        batch.add_dir(paths[0].parent)
        batch.start()
        wait_for(lambda: batch.stats().finished == 10 and batch.stats().in_flight == 4, "ten finished, four held")
        during = batch.stats()
        release.set()
        final = batch.wait()

    assert during.state == batchcore.BatchState.RUNNING
    assert during.total == 200 and during.total_known and during.workers == 4
    assert during.finished == 10 and during.in_flight == 4
    assert final.state == "finished" and final.ok == 200 and final.in_flight == 0
    assert final.elapsed_seconds >= during.elapsed_seconds and final.docs_per_hour > 0


def test_cancel_from_another_thread_stops_the_batch(engine, make_docs):
    paths = make_docs(500)
    with engine.batch(slow_processor(0.01), workers=2) as batch:
        batch.add_dir(paths[0].parent)
        batch.start()

        def cancel_once_some_finished():
            wait_for(lambda: batch.stats().ok > 0, "a finished document")
            batch.cancel()

        canceller = threading.Thread(target=cancel_once_some_finished)
        canceller.start()
        stats = batch.wait()
        canceller.join()
        results = list(batch.results())

    assert stats.state == batchcore.BatchState.CANCELLED
    assert 0 < stats.ok < 500 and stats.failed == 0 and stats.in_flight == 0
    assert len(results) == stats.ok  # documents never dispatched stay pending, outside the results


def test_hard_cancel_tells_calls_in_flight_to_stop(engine, make_docs):
    paths = make_docs(4)
    started = []
    saw_cancel = []

    @batchcore.processor
    def patient(doc):
        started.append(doc.id)
        deadline = time.monotonic() + 60
        while not doc.cancelled:
            if time.monotonic() > deadline:
                return "never cancelled"
            time.sleep(0.005)
        saw_cancel.append(doc.id)
        raise batchcore.Retry("cancelled")

    with engine.batch(patient, workers=4) as batch:
        batch.add_dir(paths[0].parent)
        batch.start()
        wait_for(lambda: len(started) == 4, "four calls in flight")
        batch.cancel(hard=True)
        stats = batch.wait(timeout=60)
    assert stats.state == "cancelled" and stats.ok == 0 and stats.failed == 0
    assert sorted(saw_cancel) == sorted(started)  # every call in flight saw the cancel


def test_wait_with_a_timeout_raises_wait_timeout_while_the_batch_runs(engine, make_docs):
    paths = make_docs(20)
    with engine.batch(slow_processor(0.05), workers=1) as batch:
        batch.add_dir(paths[0].parent)
        batch.start()
        began = time.monotonic()
        with pytest.raises(batchcore.WaitTimeout, match="still running after 0.1 s") as caught:
            batch.wait(timeout=0.1)
        assert 0.09 <= time.monotonic() - began < 1
        assert isinstance(caught.value, TimeoutError)
        assert batch.stats().state == "running"
        batch.cancel()
        assert batch.wait().state == "cancelled"


def test_wait_blocks_in_the_library_without_spinning(engine, make_docs):
    paths = make_docs(8)
    result = {}

    def waiter(batch):
        before = time.thread_time()
        batch.wait()
        result["cpu"] = time.thread_time() - before

    with engine.batch(slow_processor(0.1), workers=2) as batch:  # about 0.4 s
        batch.add_dir(paths[0].parent)
        batch.start()
        thread = threading.Thread(target=waiter, args=(batch,))
        thread.start()
        thread.join()
    assert result["cpu"] < 0.05


def test_a_closed_running_batch_is_cancelled_and_waited_for(engine, make_docs):
    paths = make_docs(100)
    batch = engine.batch(slow_processor(0.01), workers=2)
    batch.add_dir(paths[0].parent)
    batch.start()
    wait_for(lambda: batch.stats().ok > 0, "a finished document")
    began = time.monotonic()
    batch.close()
    assert time.monotonic() - began < 1
    with pytest.raises(batchcore.StateError, match="the batch is closed"):
        batch.stats()


def test_a_hard_cancel_does_not_wait_for_a_slow_callback_to_catch_up(engine, make_docs):
    paths = make_docs(3000)
    hurry = threading.Event()
    seen = {"documents": 0, "dropped": ""}

    def slow_progress(event):
        if event.kind == batchcore.EventKind.DOCUMENT:
            seen["documents"] += 1
        elif event.kind == batchcore.EventKind.LOG and "not delivered" in (event.message or ""):
            seen["dropped"] = event.message
        if not hurry.is_set():
            time.sleep(0.3)

    with engine.batch(lambda doc: doc.id, workers=4) as batch:
        batch.add_dir(paths[0].parent)
        batch.on_event(slow_progress)
        batch.start()
        deadline = time.monotonic() + 60
        while batch.stats().finished < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert batch.stats().finished >= 1000  # the callback is > 5 minutes behind
        began = time.monotonic()
        batch.cancel(hard=True)
        try:
            stats = batch.wait(timeout=5)
        finally:
            hurry.set()
        assert time.monotonic() - began < 5
    assert stats.state == "cancelled"
    assert seen["dropped"].startswith("cancelled: ")
    assert seen["documents"] + int(seen["dropped"].split()[1]) == stats.ok


def test_ctrl_c_ends_run_promptly_despite_a_slow_callback(engine, make_docs):
    paths = make_docs(3000)
    timing = {}

    def slow_progress(event):
        time.sleep(0.3)

    def interrupt_when_backlogged(batch):
        deadline = time.monotonic() + 60
        while batch.stats().finished < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        timing["sent"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    with engine.batch(lambda doc: doc.id, workers=4) as batch:
        batch.add_dir(paths[0].parent)
        interrupter = threading.Thread(target=interrupt_when_backlogged, args=(batch,))
        interrupter.start()
        with pytest.raises(KeyboardInterrupt):
            batch.run(progress=slow_progress)
        timing["raised"] = time.monotonic()
        interrupter.join()
    assert timing["raised"] - timing["sent"] < 5


def test_waiting_for_or_closing_a_batch_from_its_own_processor_is_a_state_error(engine, make_docs):
    paths = make_docs(10)
    seen = {}

    def inward(doc):
        if not seen:
            for name, action in (("wait", batch.wait), ("close", batch.close)):
                try:
                    action()
                except batchcore.StateError as error:
                    seen[name] = str(error)
        return doc.id

    with engine.batch(inward, workers=2) as batch:
        batch.add_dir(paths[0].parent)
        stats = batch.run()
    assert stats.ok == 10
    assert "cannot wait for a batch from inside one of its own processor calls" in seen["wait"]
    assert "cannot close a batch from inside one of its own processor calls" in seen["close"]


def test_failed_documents_run_again_while_the_batch_runs(engine, make_docs, tmp_path):
    paths = make_docs(4)
    release = threading.Event()
    tried = collections.Counter()

    @batchcore.processor
    def flaky(doc):
        tried[doc.id] += 1
        if doc.id == "last":
            release.wait(60)  # holds the batch open while the test retries
        elif doc.id.startswith("bad") and tried[doc.id] == 1:
            raise RuntimeError("first try fails")
        return doc.id

    output = tmp_path / "out.jsonl"
    with engine.batch(flaky, workers=2, output=output, checkpoint=tmp_path / "out.journal") as batch:
        for path, id in zip(paths, ["bad-1", "bad-2", "ok", "last"]):
            batch.add(path, id=id)
        batch.start()
        wait_for(lambda: batch.stats().failed == 2, "two failures")
        batch.pause()
        batch.resume()
        # A failure can be retried once the journal holds it (commits come in groups).
        requeued = [0]
        wait_for(lambda: (requeued.__setitem__(0, requeued[0] + batch.retry(["bad-1", "bad-2", "ok", "nothing"]))
                          or requeued[0] == 2), "both failures to go back")
        wait_for(lambda: batch.stats().ok == 3, "the retried documents to succeed")
        assert batch.retry(["bad-1"]) == 0  # it succeeded: nothing to retry
        release.set()
        final = batch.wait()
        with pytest.raises(batchcore.StateError, match="ended"):
            batch.retry(["bad-1"])
        with pytest.raises(batchcore.StateError):
            batch.pause()

    assert (final.ok, final.failed) == (4, 0)
    assert tried == {"bad-1": 2, "bad-2": 2, "ok": 1, "last": 1}
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == ["bad-1", "bad-2", "last", "ok"]
    assert {line["id"]: line["attempts"] for line in lines}["bad-1"] == 2


def test_a_document_added_from_memory_is_refused_a_retry_its_content_is_gone(engine, tmp_path):
    release = threading.Event()

    @batchcore.processor
    def failing(doc):
        if doc.id == "held":
            release.wait(60)  # holds the batch open while the test retries
            return "done"
        raise RuntimeError("always fails")

    messages = []

    def refused():
        try:
            batch.retry(["from-memory"])
        except batchcore.InvalidArgumentError as error:
            messages.append(str(error))
        return messages

    with engine.batch(failing, workers=2, checkpoint=tmp_path / "out.journal", output=tmp_path / "out.jsonl") as batch:
        batch.add(id="from-memory", content=b"text")
        batch.add(id="held", content=b"more")
        batch.start()
        try:
            wait_for(refused, "the retry to be refused")
        finally:
            release.set()
        final = batch.wait()
    assert "'from-memory'" in messages[0] and "content is not kept" in messages[0]
    assert (final.ok, final.failed) == (1, 1)
