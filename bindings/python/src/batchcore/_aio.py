"""``async def`` processors: one asyncio event loop per engine, on a thread of its own.

Each batch stage of an async processor has a bc_call_queue of its own
(its instance's state): the engine's threads queue its calls
(bc_call_queue_push, in C: they never take the GIL) and the loop, watching the queue's file descriptor, takes them in
batches and starts a coroutine for each. A coroutine's end finishes the
call (bc_call_finish_many, for all those that ended since the loop last
finished some). No thread waits for a document, so thousands may be in
flight on a few threads. A semaphore per stage holds at most
``concurrency`` coroutines running; the engine's own timeout, cancel,
rate limits, retries and budget apply to the call as to any other. A call
the engine gave up on (its timeout, a hard cancel) is seen by polling
bc_call_is_cancelled, and its task is cancelled.
"""
from __future__ import annotations

import asyncio
import ctypes
import threading
from typing import Any, Callable, Coroutine, Dict, List, Optional, Tuple

from ._capi import bc_doc, lib
from .doc import Doc

# How often the loop looks for calls the engine gave up on (each look asks
# C about every call in flight).
_POLL_SECONDS = 0.1
# Most calls taken from a queue at once.
_TAKE_MAX = 1024


class EventLoopThread:
    """An asyncio loop running on a daemon thread until close()."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._calls: Dict[asyncio.Task[Any], int] = {}  # running tasks, by task: their bc_call
        self._queues: Dict[int, int] = {}  # watched bc_call_queue: its file descriptor
        self._finished: List[Tuple[int, int]] = []  # (call, outcome) of coroutines that ended, not yet finished in C
        self._taken_calls = (ctypes.c_void_p * _TAKE_MAX)()
        self._taken_docs = (ctypes.POINTER(bc_doc) * _TAKE_MAX)()
        self._thread = threading.Thread(target=self._run, name="batchcore-asyncio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._poll)
        self.loop.run_forever()

    def _poll(self) -> None:
        library = lib()
        for task, call in list(self._calls.items()):
            if library.bc_call_is_cancelled(call):
                task.cancel()
        self.loop.call_later(_POLL_SECONDS, self._poll)

    def watch(self, queue: int, stage: "AsyncStage") -> None:
        """From any thread: runs `stage` for every call `queue` receives."""
        self.loop.call_soon_threadsafe(self._watch, queue, stage)

    def _watch(self, queue: int, stage: "AsyncStage") -> None:
        fd = lib().bc_call_queue_fd(queue)
        self._queues[queue] = fd
        self.loop.add_reader(fd, self._take, queue, stage)

    def retire(self, queue: int) -> None:
        """From any thread, once the queue's stage instance ended (its last
        call finished): stops watching the queue and frees it."""
        try:
            self.loop.call_soon_threadsafe(self._retire, queue)
        except RuntimeError:  # the loop is closed: nothing reads the queue any more
            lib().bc_call_queue_free(queue)

    def _retire(self, queue: int) -> None:
        fd = self._queues.pop(queue, None)
        if fd is not None:
            self.loop.remove_reader(fd)
        lib().bc_call_queue_free(queue)

    def _take(self, queue: int, stage: "AsyncStage") -> None:
        """The queue's descriptor is readable: starts a task for each waiting call."""
        calls, docs = self._taken_calls, self._taken_docs
        for i in range(lib().bc_call_queue_take(queue, calls, docs, _TAKE_MAX)):
            call = calls[i]
            task = self.loop.create_task(self._call(stage, call, stage.doc(call, docs[i].contents)))
            self._calls[task] = call

    async def _call(self, stage: "AsyncStage", call: int, doc: Doc) -> None:
        try:
            async with stage.semaphore():
                outcome = await stage.run(doc, call)  # never raises: every end is an outcome
        finally:
            self._calls.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
        self._finished.append((call, outcome))
        if len(self._finished) == 1:
            self.loop.call_soon(self._finish_all)

    def _finish_all(self) -> None:
        """Finishes the calls whose coroutines ended since the last time, in
        one C call: the GIL is let go once per batch, not once per document."""
        finished, self._finished = self._finished, []
        count = len(finished)
        calls = (ctypes.c_void_p * count)(*(call for call, _ in finished))
        outcomes = (ctypes.c_int * count)(*(outcome for _, outcome in finished))
        lib().bc_call_finish_many(calls, outcomes, None, count)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()
            self.loop.close()


class LazyEventLoop:
    """An engine's event loop, started by the first async call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: Optional[EventLoopThread] = None

    def get(self) -> EventLoopThread:
        with self._lock:
            if self._loop is None:
                self._loop = EventLoopThread()
            return self._loop

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()


class AsyncStage:
    """An async processor's share of the loop: at most ``concurrency`` coroutines at once.

    ``doc(call, raw)`` makes the Doc of a bc_doc; ``run(doc, call)`` awaits
    the processor and reports its result to the call, returning the
    outcome; it ends the doc's call.
    """

    def __init__(self, doc: Callable[[int, Any], Doc], run: Callable[[Doc, int], Coroutine[Any, Any, int]],
                 concurrency: int) -> None:
        self.doc = doc
        self.run = run
        self.concurrency = concurrency
        self._semaphore: Optional[asyncio.Semaphore] = None

    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # made on the loop's thread, on first use
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._semaphore
