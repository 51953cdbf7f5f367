"""async def processors on the engine's event loop."""
from __future__ import annotations

import asyncio
import collections
import os
import threading

import pytest

from conftest import batchcore


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def test_a_thousand_async_documents_run_200_at_once_on_a_handful_of_threads():
    before = thread_count()
    lock = threading.Lock()
    seen = {"now": 0, "most": 0, "threads": 0}
    release = asyncio.Event()  # bound to the engine's loop on first use

    @batchcore.processor(concurrency=200)
    async def fetch(doc):
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
            seen["threads"] = max(seen["threads"], thread_count())
            if seen["now"] == 200:
                release.set()  # the first 200 hold until all of them are in flight
        if seen["most"] < 200:
            await asyncio.wait_for(release.wait(), 30)
        await asyncio.sleep(0.001)
        with lock:
            seen["now"] -= 1
        return doc.id

    with batchcore.Engine() as engine, engine.batch(fetch) as batch:
        for i in range(1000):
            batch.add(content=b"x", id=f"doc-{i}")
        stats = batch.run()
    assert stats.ok == 1000, stats
    assert seen["most"] == 200  # the stage's concurrency, reached and never passed
    # A few engine threads (spare workers, the writer, events) and the loop: not one per document.
    assert seen["threads"] - before <= 12, seen


def test_a_timeout_cancels_the_coroutine_and_the_document_retries_then_fails():
    cancelled = threading.Event()

    async def slow(doc):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    with batchcore.Engine() as engine, engine.batch(slow, timeout=0.2, retry_attempts=2) as batch:
        batch.add(content=b"x", id="slow")
        stats = batch.run()
        [result] = list(batch.results())
    assert cancelled.wait(30)
    assert stats.failed == 1 and result.attempts == 2 and "timed out" in (result.error or ""), result


def test_async_results_retries_and_failures_are_reported_as_for_functions():
    attempts = {}

    async def flaky(doc):
        attempts[doc.id] = attempts.get(doc.id, 0) + 1
        if doc.id == "retry" and attempts[doc.id] == 1:
            raise batchcore.Retry("again", after=0)
        if doc.id == "boom":
            raise ValueError("bad document")
        await asyncio.sleep(0)
        return {"id": doc.id, "content": doc.content.decode()}

    with batchcore.Engine() as engine, engine.batch(flaky, retry_attempts=3) as batch:
        for id in ("ok", "retry", "boom"):
            batch.add(content=id, id=id)
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.ok == 2 and stats.failed == 1
    assert results["retry"].attempts == 2 and results["ok"].output_is_json
    assert results["boom"].error == "ValueError: bad document"


def test_concurrency_is_only_for_async_processors():
    with pytest.raises(ValueError, match="async def"):
        batchcore.processor(lambda doc: None, concurrency=5)
    with pytest.raises(ValueError, match="whole number"):
        batchcore.processor(concurrency=0)(_noop)


async def _noop(doc):
    return None


def test_an_asyncio_host_waits_and_reads_events_without_blocking_its_loop():
    async def echo(doc):
        await asyncio.sleep(0)
        return doc.content

    async def host():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick = asyncio.ensure_future(ticker())
        with batchcore.Engine() as engine, engine.batch(echo) as batch, engine.batch(echo) as second:
            for i in range(20):
                batch.add(content=str(i), id=str(i))
                second.add(content=str(i), id=str(i))
            kinds = [event.kind async for event in batch.events()]
            second.start()
            stats = await second.wait_async(timeout=60)
        tick.cancel()
        return kinds, stats, ticks

    kinds, stats, ticks = asyncio.run(host())
    assert kinds.count(batchcore.EventKind.DOCUMENT) == 20 and kinds[-1] is batchcore.EventKind.FINISHED
    assert stats.ok == 20 and ticks > 0


def test_calls_ending_in_one_turn_of_the_loop_finish_together_each_with_its_own_outcome():
    # 150 coroutines wait on one event, so they end in the same turn of the
    # loop and are finished in C together: each keeps its output, retry or failure.
    attempts = {}
    everyone = 150
    arrived = []
    gate = None

    async def together(doc):
        nonlocal gate
        gate = gate or asyncio.Event()
        attempts[doc.id] = attempts.get(doc.id, 0) + 1
        if attempts[doc.id] == 1:
            arrived.append(doc.id)
            if len(arrived) == everyone:
                gate.set()
            await gate.wait()
        kind = int(doc.id) % 3
        if kind == 1 and attempts[doc.id] == 1:
            raise batchcore.Retry("again", after=0)
        if kind == 2:
            raise ValueError(f"bad {doc.id}")
        return doc.id

    with batchcore.Engine() as engine, engine.batch(batchcore.processor(together, concurrency=everyone),
                                                    retry_attempts=2, retry_base=0) as batch:
        for i in range(everyone):
            batch.add(content=b"x", id=str(i))
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert (stats.ok, stats.failed, stats.retries) == (100, 50, 50)
    assert results["3"].output == b"3" and results["4"].output == b"4" and results["4"].attempts == 2
    assert results["5"].error == "ValueError: bad 5"


def test_coroutines_in_flight_are_not_held_to_the_engines_thread_cap():
    # The engine's max_workers caps threads; a pending call holds none, so
    # the stage's concurrency (40) is reached with an engine of 4 workers.
    seen = {"now": 0, "most": 0}
    release = asyncio.Event()

    @batchcore.processor(concurrency=40)
    async def wait_for_all(doc):
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        if seen["now"] == 40:
            release.set()
        await asyncio.wait_for(release.wait(), 30)
        seen["now"] -= 1
        return doc.id

    with batchcore.Engine(workers=4) as engine, engine.batch(wait_for_all) as batch:
        for i in range(80):
            batch.add(content=b"x", id=f"doc-{i}")
        stats = batch.run()
    assert stats.ok == 80 and seen["most"] == 40, (stats, seen)


def test_a_coroutine_reads_its_documents_bytes_metadata_and_the_previous_stages_output():
    def first(doc):
        return doc.read().decode().upper()

    async def second(doc):
        await asyncio.sleep(0)
        return {"input": doc.text(), "tag": doc.metadata.get("tag"), "stage": doc.stage, "attempt": doc.attempt}

    with batchcore.Engine() as engine, engine.batch(stages=[first, second]) as batch:
        batch.add(content="héllo\0world", id="a", metadata={"tag": "ünï"})
        batch.add(content=b"", id="empty")
        batch.run()
        results = {r.id: r.json() for r in batch.results()}
    assert results["a"] == {"input": "HÉLLO\0WORLD", "tag": "ünï", "stage": 1, "attempt": 1}
    assert results["empty"] == {"input": "", "tag": None, "stage": 1, "attempt": 1}


def test_calls_that_time_out_while_waiting_for_a_blocked_loop_are_retried_safely():
    # The first attempt of "block" blocks the loop (a misuse) for longer than
    # the timeout: calls queued meanwhile time out before the loop takes
    # them. Taken late, their handles are refused, nothing reaches another
    # call, and their retries finish every document exactly once.
    import time

    async def work(doc):
        if doc.id == "block" and doc.attempt == 1:
            time.sleep(1.0)
        return doc.id

    with batchcore.Engine() as engine, engine.batch(batchcore.processor(work, concurrency=50),
                                                    timeout=0.3, timeout_grace=0.1, retry_attempts=10, retry_base=0) as batch:
        batch.add(content=b"x", id="block")
        for i in range(30):
            batch.add(content=b"x", id=f"doc-{i}")
        stats = batch.run()
        results = {r.id: r for r in batch.results()}
    assert stats.ok == 31 and stats.timeouts >= 1, stats
    assert all(r.output == r.id.encode() for r in results.values())
    assert results["block"].attempts >= 2


def test_calls_waiting_for_a_free_slot_that_time_out_never_run():
    # concurrency=1 with 3 workers: "a" runs (too long, on its first
    # attempt) while "b" and "c" wait for the slot. All three time out;
    # the waiting two are retried without their first attempt ever
    # reaching the processor.
    calls = collections.Counter()

    async def work(doc):
        calls[doc.id] += 1
        if doc.id == "a" and doc.attempt == 1:
            await asyncio.sleep(5)
        return doc.id

    with batchcore.Engine() as engine, engine.batch(batchcore.processor(work, concurrency=1), workers=3,
                                                    timeout=0.3, timeout_grace=0, retry_attempts=5, retry_base=0) as batch:
        for name in "abc":
            batch.add(content=b"x", id=name)
        stats = batch.run()
        attempts = {r.id: r.attempts for r in batch.results()}
    # At least one waiting call timed out (the other may start in time).
    assert stats.ok == 3 and attempts["a"] == 2 and attempts["b"] + attempts["c"] >= 3, (stats, attempts)
    assert calls == {"a": 2, "b": 1, "c": 1}, calls  # what timed out waiting never ran
