"""``async def`` processors: one asyncio event loop per engine, on a thread of its own.

Each batch stage of an async processor has a bc_call_queue of its own
(its instance's state): the engine's threads queue its calls
(bc_call_queue_push, in C: they never take the GIL) and the loop, watching
the queue's file descriptor, takes them in batches and starts a coroutine
for each. A coroutine's end finishes the call with its output
(bc_call_finish_with_outputs, for all those that ended since the loop last
finished some). No thread waits for a document, so thousands may be in
flight on a few threads. Each stage runs at most ``concurrency``
coroutines at once; the engine's own timeout, cancel,
rate limits, retries and budget apply to the call as to any other. A call
the engine gave up on (its timeout, a hard cancel) is seen by polling
bc_call_is_cancelled, and its task is cancelled.
"""
from __future__ import annotations

import asyncio
import collections
import ctypes
import inspect
import threading
from typing import Any, Callable, Coroutine, Deque, Dict, List, Optional, Tuple

from ._capi import BC_OUTCOME_FAIL, bc_doc, lib
from ._loop import EngineLoop
from .doc import Doc

# How often the loop looks for calls the engine gave up on (each look asks
# C about every call in flight).
_POLL_SECONDS = 0.1
# Most calls taken from a queue at once.
_TAKE_MAX = 1024


class EventLoopThread:
    """An asyncio loop running on a daemon thread until close()."""

    def __init__(self) -> None:
        self.loop = EngineLoop()
        # Started calls' tasks, by bc_call (the coroutine holds the stage and
        # Doc: a tuple per call would be one more object for the collector).
        self._tasks: Dict[int, asyncio.Task[Any]] = {}
        self._queues: Dict[int, Tuple[int, AsyncStage]] = {}  # watched bc_call_queue: its file descriptor and stage
        # What the coroutines' values set as outputs, until their calls finish.
        self.held_outputs = HeldOutputs(lib())
        # Calls whose coroutines ended, with their outcomes and outputs, not yet finished in C.
        self._ended_calls: List[int] = []
        self._ended_outcomes: List[int] = []
        self._ended_outputs: List[Optional[bytes]] = []
        self._ended_json: List[int] = []
        # Filled by slices (a ctypes array made from arguments costs five times as much).
        self._finish_calls = (ctypes.c_void_p * _TAKE_MAX)()
        self._finish_outcomes = (ctypes.c_int * _TAKE_MAX)()
        self._finish_outputs = (ctypes.c_char_p * _TAKE_MAX)()
        self._finish_lengths = (ctypes.c_size_t * _TAKE_MAX)()
        self._finish_json = (ctypes.c_ubyte * _TAKE_MAX)()
        self._taken_calls = (ctypes.c_void_p * _TAKE_MAX)()
        self._taken_docs = (ctypes.c_void_p * _TAKE_MAX)()  # addresses: one object per document, not two
        self._thread = threading.Thread(target=self._run, name="batchcore-asyncio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._poll)
        self.loop.run_forever()

    def _poll(self) -> None:
        library = lib()
        for call, task in list(self._tasks.items()):
            if library.bc_call_is_cancelled(call):
                task.cancel()
                coroutine = task.get_coro()
                if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                    # Cancelled before its first step, the coroutine never
                    # runs, not even its finally: the call is settled here,
                    # with the stage and Doc it was made with (_call's arguments).
                    arguments = coroutine.cr_frame.f_locals
                    stage, doc = arguments["stage"], arguments["doc"]
                    self._settle(stage, call, doc, stage.fail(call, asyncio.CancelledError()))
        for _, stage in self._queues.values():
            if stage.parked:
                self._drop_cancelled(stage, library)
        self.loop.call_later(_POLL_SECONDS, self._poll)

    def _drop_cancelled(self, stage: "AsyncStage", library: Any) -> None:
        """Ends the parked calls the engine gave up on as a cancelled task would: retried."""
        kept: Deque[Tuple[int, Doc]] = collections.deque()
        for call, doc in stage.parked:
            if library.bc_call_is_cancelled(call):
                doc._end_call()
                self._ended(call, stage.fail(call, asyncio.CancelledError()))
            else:
                kept.append((call, doc))
        stage.parked = kept

    def watch(self, queue: int, stage: "AsyncStage") -> None:
        """From any thread: runs `stage` for every call `queue` receives."""
        self.loop.call_soon_threadsafe(self._watch, queue, stage)

    def _watch(self, queue: int, stage: "AsyncStage") -> None:
        fd = lib().bc_call_queue_fd(queue)
        self._queues[queue] = (fd, stage)
        self.loop.add_reader(fd, self._take, queue, stage)

    def retire(self, queue: int) -> None:
        """From any thread, once the queue's stage instance ended (its last
        call finished): stops watching the queue and frees it."""
        try:
            self.loop.call_soon_threadsafe(self._retire, queue)
        except RuntimeError:  # the loop is closed: nothing reads the queue any more
            lib().bc_call_queue_free(queue)

    def _retire(self, queue: int) -> None:
        watched = self._queues.pop(queue, None)
        if watched is not None:
            self.loop.remove_reader(watched[0])
        lib().bc_call_queue_free(queue)

    def _take(self, queue: int, stage: "AsyncStage") -> None:
        """The queue's descriptor is readable: starts a task for each waiting
        call, or parks it while the stage has `concurrency` running."""
        calls, docs, shared, at = self._taken_calls, self._taken_docs, stage.shared, bc_doc.from_address
        for i in range(lib().bc_call_queue_take(queue, calls, docs, _TAKE_MAX)):
            call = calls[i]
            doc = Doc(call, at(docs[i]), shared)
            if stage.running < stage.concurrency:
                self._start(stage, call, doc)
            else:
                stage.parked.append((call, doc))

    def _start(self, stage: "AsyncStage", call: int, doc: Doc) -> None:
        stage.running += 1
        task = asyncio.Task(self._call(stage, call, doc), loop=self.loop)  # as create_task, less its checks
        self._tasks[call] = task

    async def _call(self, stage: "AsyncStage", call: int, doc: Doc) -> None:
        """One call, start to end, in one coroutine: the processor's
        value, or what it raised (a cancel included), becomes the outcome."""
        outcome = BC_OUTCOME_FAIL  # should reporting itself raise
        try:
            outcome = stage.report(call, await stage.function(doc))
        except BaseException as error:
            outcome = stage.fail(call, error)
        finally:
            self._settle(stage, call, doc, outcome)

    def _settle(self, stage: "AsyncStage", call: int, doc: Doc, outcome: int) -> None:
        """A running call ended: frees its place for a parked one."""
        doc._end_call()
        del self._tasks[call]
        stage.running -= 1
        if stage.parked:
            self._start(stage, *stage.parked.popleft())
        self._ended(call, outcome)

    def _ended(self, call: int, outcome: int) -> None:
        held = self.held_outputs
        output, json = held.json.pop(call, None), 1
        if output is None:
            output, json = held.raw.pop(call, None), 0
        self._ended_calls.append(call)
        self._ended_outcomes.append(outcome)
        self._ended_outputs.append(output)
        self._ended_json.append(json)
        if len(self._ended_calls) == 1:
            self.loop.call_soon(self._finish_all)

    def _finish_all(self) -> None:
        """Finishes the calls whose coroutines ended since the last time,
        with their outputs, in one C call: the GIL is let go once per batch,
        not twice per document."""
        calls, outcomes, outputs, json = self._ended_calls, self._ended_outcomes, self._ended_outputs, self._ended_json
        self._ended_calls, self._ended_outcomes, self._ended_outputs, self._ended_json = [], [], [], []
        for start in range(0, len(calls), _TAKE_MAX):
            end = min(start + _TAKE_MAX, len(calls))
            count = end - start
            self._finish_calls[:count] = calls[start:end]
            self._finish_outcomes[:count] = outcomes[start:end]
            self._finish_outputs[:count] = outputs[start:end]
            self._finish_lengths[:count] = [len(output) if output is not None else 0 for output in outputs[start:end]]
            self._finish_json[:count] = json[start:end]
            lib().bc_call_finish_with_outputs(self._finish_calls, self._finish_outcomes, self._finish_outputs,
                                              self._finish_lengths, self._finish_json, None, count)
            self._finish_outputs[:count] = _NONE[:count]  # the array would keep the bytes alive

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()
            self.loop.close()


_NONE = [None] * _TAKE_MAX


class HeldOutputs:
    """What a coroutine's value reports, as processors._report hands it to
    the library: the output is held until the call finishes with it (one
    crossing into C for many calls); an error or usage goes to C at once."""

    def __init__(self, library: Any) -> None:
        # By call: outputs that are JSON, and the others (no tuple per call).
        self.json: Dict[int, bytes] = {}
        self.raw: Dict[int, bytes] = {}
        self.bc_call_set_error = library.bc_call_set_error
        self.bc_call_add_usage = library.bc_call_add_usage

    def bc_call_set_output(self, call: int, data: bytes, length: int) -> int:
        self.raw[call] = data
        return 0

    def bc_call_set_output_json(self, call: int, text: bytes, length: int) -> int:
        self.json[call] = text
        return 0


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

    Each call's Doc carries ``shared`` (the stage's prepared value);
    ``function(doc)`` is the processor; ``report(call, value)`` hands its
    value to the call and ``fail(call, error)`` what it raised, each
    returning the outcome. Calls taken beyond ``concurrency`` wait in
    ``parked`` (a counter and a deque: the loop's thread alone touches
    them, so no asyncio.Semaphore and no waiting coroutine).
    """

    def __init__(self, function: Callable[[Doc], Coroutine[Any, Any, Any]], shared: Any,
                 report: Callable[[int, Any], int], fail: Callable[[int, BaseException], int],
                 concurrency: int) -> None:
        self.function = function
        self.shared = shared
        self.report = report
        self.fail = fail
        self.concurrency = concurrency
        self.running = 0
        self.parked: Deque[Tuple[int, Doc]] = collections.deque()
