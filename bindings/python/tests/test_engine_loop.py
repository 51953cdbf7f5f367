"""The engine's event loop schedules as asyncio's own loop does, with less Python."""
from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, Callable, List

import pytest
from conftest import batchcore

from batchcore._loop import EngineLoop

LABEL = contextvars.ContextVar("label", default="unset")


def scheduled_order(loop: asyncio.AbstractEventLoop) -> List[Any]:
    """What a mix of call_soon, call_later and call_at runs, in order, with the context each saw."""
    seen: List[Any] = []

    def note(what: str) -> None:
        seen.append((what, LABEL.get()))

    async def main() -> None:
        now = loop.time()
        LABEL.set("main")
        loop.call_later(0.03, note, "later 30 ms")
        loop.call_at(now + 0.01, note, "at 10 ms")
        loop.call_soon(note, "soon 1")
        loop.call_later(0.02, note, "later 20 ms")
        cancelled = loop.call_later(0.015, note, "cancelled")
        loop.call_soon(note, "soon 2", context=contextvars.Context())
        loop.call_at(now + 0.005, note, "at 5 ms")
        cancelled.cancel()
        await asyncio.sleep(0.05)
        seen.append(("handles", type(cancelled).__name__, cancelled.cancelled()))

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return seen


def test_callbacks_and_timers_run_in_asyncios_order_and_contexts():
    ours = scheduled_order(EngineLoop())
    assert ours == scheduled_order(asyncio.new_event_loop())
    assert ours[:2] == [("soon 1", "main"), ("soon 2", "unset")]
    assert [what for what, *_ in ours[2:6]] == ["at 5 ms", "at 10 ms", "later 20 ms", "later 30 ms"]
    assert ours[-1] == ("handles", "TimerHandle", True)


@pytest.mark.parametrize("schedule", [
    lambda loop: loop.call_soon(print),
    lambda loop: loop.call_later(1, print),
    lambda loop: loop.call_at(loop.time() + 1, print),
])
def test_a_closed_loop_refuses_callbacks_as_asyncio_does(schedule: Callable[[Any], Any]):
    loop = EngineLoop()
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        schedule(loop)


def test_bad_arguments_and_debug_mode_get_asyncios_own_checks():
    loop = EngineLoop()
    try:
        with pytest.raises(TypeError):
            loop.call_later(None, print)
        loop.set_debug(True)
        # Debug mode's thread check: a call_soon from another thread than the running loop's.
        errors: List[BaseException] = []

        async def from_another_thread() -> None:
            def schedule() -> None:
                try:
                    loop.call_soon(print)
                except RuntimeError as error:
                    errors.append(error)
            thread = threading.Thread(target=schedule)
            thread.start()
            thread.join()

        loop.run_until_complete(from_another_thread())
        assert len(errors) == 1 and "thread" in str(errors[0])
    finally:
        loop.close()


def test_async_processors_run_on_the_engine_loop(engine):
    @batchcore.processor(concurrency=4)
    async def loop_kind(doc):
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__name__

    with engine.batch(loop_kind) as batch:
        batch.add_contents({"a": b"", "b": b""})
        batch.run()
        assert {result.text for result in batch.results()} == {"EngineLoop"}
