"""A batch: documents, stages and options, run on an engine."""
from __future__ import annotations

import asyncio
import collections
import ctypes
import dataclasses
import itertools
import json
import os
import threading
import time
import weakref
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from . import _capi, _isolated, _threadstate
from ._capi import encode, lib
from .engine import Engine, PathArgument
from ._handle import OwnedHandle
from .errors import BatchcoreError, StateError, WaitTimeout
from .events import Event, EventKind
from .options import option_value, registry_key
from .processors import Processor
from .results import DocumentResult
from .stage import Stage, StageSpec
from .stats import Stats

EventCallback = Callable[[Event], Any]

# How long one blocking bc_batch_wait lasts on the main thread: Python runs
# signal handlers (Ctrl-C) only between C calls, so wait wakes this often.
_MAIN_THREAD_WAIT_SLICE = 0.2
# results(follow=True): how long it waits for more results between looks.
_FOLLOW_WAIT_MS = 10
# Results read from C in one call.
_RESULTS_CHUNK = 256


class Batch(OwnedHandle):
    """Documents + stages + options. Configure, then run() — or start(), wait(), cancel().

    Create one with Engine.batch(). Use it as a context manager, or call
    close(): closing a running batch cancels it hard and waits for it.
    stats() and cancel() may be called from any thread at any time.

    With ``output`` a regular file and no ``checkpoint``, the journal is
    OUTPUT.journal, as with ``batchhost run -o OUTPUT``; ``checkpoint=False``
    keeps none.
    """

    _kind = "batch"

    def __init__(self, engine: Engine) -> None:
        library = lib()
        _threadstate.reap()
        out = ctypes.c_void_p()
        library.bc_batch_new(ctypes.byref(out), engine._live())
        handle = _capi.handle(out)
        self.engine = engine
        self._handle: Optional[int] = handle
        self._started = False
        self._output: Optional[str] = None
        self._checkpoint: Union[str, bool, None] = None  # None: the default (beside the output)
        self._workers_set = False
        self._isolation: Optional[str] = None  # the batch option, as set
        self._labels: List[str] = []  # labels given to python stages
        self._prepared: List[Processor] = []  # stages whose prepare() the engine runs at start
        self._async_concurrency = 0  # the largest concurrency of its async stages
        self._events = _EventSink(handle)
        # Frees the handle exactly once (close(), collection or exit).
        self._finalizer = weakref.finalize(self, _free, library, handle, self._events)

    # ---- configuration (before start) ------------------------------------

    def configure(self, **options: Any) -> "Batch":
        """Sets batch options from keywords (retry_attempts=5 is retry.attempts); None leaves a default."""
        for key, value in options.items():
            if value is not None:
                self.set(key, value)
        return self

    def set(self, key: str, value: Any) -> "Batch":
        """Sets one batch option by its registry key ("retry.attempts") or keyword ("retry_attempts")."""
        key = registry_key(key)
        if key == "checkpoint" and value is False:
            self._checkpoint = False  # no journal, not even the default one
            return self
        lib().bc_batch_set(self._live(), encode(key), encode(option_value(value)))
        if key == "workers":
            self._workers_set = True
        elif key == "isolation":
            self._isolation = option_value(value)
        elif key == "output":
            self._output = option_value(value)
        elif key == "checkpoint":
            self._checkpoint = option_value(value)
        return self

    def add_stage(self, processor: StageSpec, options: Optional[Mapping[str, Any]] = None,
                  label: Optional[str] = None, prepare: Optional[Callable[[], Any]] = None,
                  isolation: Optional[str] = None) -> "Batch":
        """Appends a stage: a processor name ("text"), a plugin path, or a Python processor, with its options.

        ``prepare`` (a Python processor's, or given here) runs once for this
        stage when the batch starts; its value is each call's ``doc.shared``.
        ``isolation="process"`` (or the batch option) runs a Python processor
        in ``python -m batchcore.worker`` children, one per worker.
        """
        stage = Stage.of(processor)
        is_python = isinstance(stage.processor, Processor) or callable(stage.processor)
        if isolation is not None and not is_python:
            raise TypeError("isolation= on add_stage is for Python processors; plugins follow the batch option isolation")
        if is_python and (isolation or self._isolation) == "process":
            return self._add_worker_stage(stage, options, label, prepare)
        if prepare is not None or getattr(stage.processor, "prepare", None) is not None:
            stage = dataclasses.replace(stage, processor=self._stage_processor(stage.processor, prepare))
        if options:
            stage = dataclasses.replace(stage, options={**stage.options, **options})
        if label is not None:
            stage = dataclasses.replace(stage, label=label)
        name = stage.processor
        if isinstance(name, Processor) or callable(name):
            registered = self.engine.register(name)
            name = registered.name
            if registered.is_async:
                self._async_concurrency = max(self._async_concurrency, registered.concurrency)
        lib().bc_batch_add_stage(self._live(), encode(os.fspath(name)), encode(stage.label))
        for key, value in stage.options.items():
            self.set_stage(stage.label, key, value)
        return self

    def _add_worker_stage(self, stage: Stage, options: Optional[Mapping[str, Any]], label: Optional[str],
                          prepare: Optional[Callable[[], Any]]) -> "Batch":
        """A Python processor as a ``python`` stage, run in worker processes."""
        proc = stage.processor if isinstance(stage.processor, Processor) else Processor(stage.processor)
        settings = {**_isolated.stage_options(proc, prepare or proc.prepare), **stage.options, **(options or {})}
        label = label or stage.label or self._free_label(proc.name)
        self._labels.append(label)
        lib().bc_batch_add_stage(self._live(), encode(_isolated.PYTHON_PROCESSOR), encode(label))
        for key, value in settings.items():
            self.set_stage(label, key, value)
        return self

    def _free_label(self, base: str) -> str:
        label, n = base, 2
        while label in self._labels:
            label, n = f"{base}-{n}", n + 1
        return label

    def _stage_processor(self, spec: Any, prepare: Optional[Callable[[], Any]]) -> Processor:
        """The processor of a stage with a prepare function: a Processor with
        its own, or the engine's processor of `spec` with `prepare`. Each
        stage that runs it gets its own prepared value (see processors)."""
        if not (isinstance(spec, Processor) or callable(spec)):
            raise TypeError("prepare= is for Python processors; a plugin prepares with its own prepare()")
        own = spec if prepare is None and isinstance(spec, Processor) else self.engine._prepared_by(spec, prepare)
        self._prepared.append(own)
        return own

    def set_stage(self, label: Optional[str], key: str, value: Any) -> "Batch":
        """Sets an option of the stage labelled `label` (None: the last stage added)."""
        lib().bc_batch_set_stage(self._live(), encode(label), encode(key), encode(option_value(value)))
        return self

    def add(self, path: Optional[PathArgument] = None, id: Optional[str] = None,
            metadata: Union[Mapping[str, Any], str, None] = None, *,
            content: Union[bytes, str, None] = None) -> "Batch":
        """Adds one file, or with `content=` (bytes, or str kept as UTF-8) one
        document held in memory, which needs an `id`. The path may be a URL
        (http://, https://, s3://bucket/key), fetched before the first stage;
        an S3 prefix (s3://bucket/prefix/) adds every object under it. `id`
        defaults to the path; `metadata` is a dict (or JSON object text). Content over the
        option content.max_size (16 MiB by default) raises InputError."""
        metadata_json = _metadata_json(metadata)
        if content is None:
            if path is None:
                raise TypeError("add() needs a path, or content= and id= for a document held in memory")
            lib().bc_batch_add_file(self._live(), _path(path), encode(id), metadata_json)
            return self
        if path is not None:
            raise TypeError("give either a path or content=, not both")
        if id is None:
            raise TypeError("a document given by its content needs an id=")
        data = _content_bytes(content)
        lib().bc_batch_add_content(self._live(), encode(id), data, len(data), metadata_json)
        return self

    def add_contents(self, documents: Union[Mapping[str, Union[bytes, str]], Iterable[Tuple[Any, ...]]]) -> "Batch":
        """Adds many documents held in memory in one call: a mapping of id to
        content (bytes, or str kept as UTF-8), or (id, content) and (id,
        content, metadata) tuples. All or nothing: a document that add()
        would refuse (an empty or repeated id, metadata that is not an
        object, content over content.max_size) raises, naming it, and none
        of them is added."""
        if isinstance(documents, Mapping):  # the common shape, read by whole lists
            ids, contents, metadata = _encoded_ids(documents.keys()), _contents(documents.values()), None
        else:
            ids, contents, metadata = [], [], []
            for document in documents:
                if not 2 <= len(document) <= 3:
                    raise TypeError(f"add_contents() takes (id, content) or (id, content, metadata), not {document!r}")
                ids.append(document[0])
                contents.append(document[1])
                metadata.append(_metadata_json(document[2]) if len(document) == 3 else None)
            ids, contents = _encoded_ids(ids), _contents(contents)
        count = len(ids)
        if count:
            id_array, data_array = (ctypes.c_char_p * count)(), (ctypes.c_char_p * count)()
            id_array[:], data_array[:] = ids, contents  # filled by slices: C-speed
            lengths = (ctypes.c_size_t * count)()
            lengths[:] = list(map(len, contents))
            metadata_array = None
            if metadata and any(metadata):
                metadata_array = (ctypes.c_char_p * count)()
                metadata_array[:] = metadata
            lib().bc_batch_add_contents(self._live(), id_array, data_array, lengths, metadata_array, count)
        return self

    def add_dir(self, dir: PathArgument, glob: Optional[str] = None) -> "Batch":
        """Adds every file under `dir`, recursively, sorted; `glob` filters ("*.txt", "a/*/b.md", "**/x")."""
        lib().bc_batch_add_dir(self._live(), _path(dir), encode(glob))
        return self

    def add_manifest(self, path: PathArgument) -> "Batch":
        """Adds a .jsonl or .json manifest of {path, id, metadata}; InputError names a bad line."""
        lib().bc_batch_add_manifest(self._live(), _path(path))
        return self

    def add_list(self, path: PathArgument) -> "Batch":
        """Adds newline-separated paths read from a file ("-": standard input)."""
        lib().bc_batch_add_list(self._live(), _path(path))
        return self

    def on_event(self, callback: EventCallback) -> "Batch":
        """Calls `callback(event)` for every event, on a thread of the batch, in order.

        It may call stats() and cancel(). If it raises, the batch is
        cancelled and wait() (or run()) raises that exception.
        """
        self._events.attach(callback)
        lib().bc_batch_set_event_callback(self._live(), _DELIVER, self._events.token)
        return self

    # ---- running ---------------------------------------------------------

    def submit(self, redis: str, lease: Optional[float] = None) -> str:
        """Puts the batch on a Redis server instead of running it here; returns its id.

        Workers on any machine (``batchhost worker``, batchcore.Worker) serve it
        with their own processors of the same names; documents are paths every
        worker reads. ``lease`` (seconds, default 60) is how long a worker holds
        a document without renewing its lease. See batchcore.status/collect.
        """
        library = lib()
        out = ctypes.c_void_p()
        lease_ms = 0 if lease is None else max(1, int(lease * 1000))
        library.bc_redis_submit(ctypes.byref(out), self._live(), encode(redis), lease_ms)
        return library.take_string(out.value)


    def run(self, progress: Optional[EventCallback] = None) -> Stats:
        """Starts the batch, waits for it and returns its final stats.

        `progress` receives every event (see on_event). Ctrl-C cancels the
        batch hard, waits for it to stop, then raises KeyboardInterrupt.
        """
        if progress is not None:
            self.on_event(progress)
        self.start()
        try:
            return self.wait()
        except KeyboardInterrupt:
            self.cancel(hard=True)
            self.wait()
            raise

    def start(self) -> "Batch":
        """Loads and starts every stage, then returns at once; nothing runs if a stage cannot start."""
        handle = self._live()
        if self._async_concurrency and not self._workers_set:
            # Slots for every coroutine in flight: a pending call holds a slot, not a thread.
            lib().bc_batch_set(handle, b"workers", str(self._async_concurrency).encode())
        journal = _default_journal(self._output) if self._checkpoint is None else None
        if journal is not None:
            lib().bc_batch_set(handle, b"checkpoint", os.fsencode(journal))
        # Marked first: documents may be processing before bc_batch_start returns.
        self._started = True
        self._events.started(True)
        try:
            lib().bc_batch_start(handle)
        except BaseException as error:
            self._started = False
            self._events.started(False)
            for proc in self._prepared:  # a prepare() that raised: its own exception, not the C error
                if proc.prepare_error is not None:
                    raise proc.prepare_error from error
            raise
        return self

    def wait(self, timeout: Optional[float] = None) -> Stats:
        """Blocks until the batch ended and its last event was delivered; returns the final stats.

        `timeout` is in seconds (None: no limit); WaitTimeout when it runs out
        (the batch keeps running). The GIL is released while waiting.
        """
        _wait_for_end(self._live(), timeout)
        self._events.raise_error()
        return self.stats()

    async def wait_async(self, timeout: Optional[float] = None) -> Stats:
        """wait() for asyncio hosts: awaits the end without blocking the event
        loop (the wait runs on the loop's default executor)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.wait, timeout)

    def events(self) -> AsyncIterator[Event]:
        """The batch's events for ``async for``, ending with the FINISHED event.

        Call it before start() (it takes the batch's event callback, as
        on_event does); the first iteration starts the batch if it has not
        started yet: ``async for event in batch.events(): ...``.
        """
        return _AsyncEvents(self)

    def cancel(self, hard: bool = False) -> None:
        """Stops dispatching documents; `hard` also asks calls in flight to stop (Doc.cancelled).

        Returns at once: wait() tells when the batch has stopped. Documents
        never dispatched stay pending and are not in the results.
        """
        lib().bc_batch_cancel(self._live(), _capi.BC_CANCEL_HARD if hard else _capi.BC_CANCEL_GRACEFUL)

    def retry(self, ids: Iterable[str]) -> int:
        """Runs again, while the batch runs, the documents of `ids` that failed in this run.

        Each goes back to the queue at once with fresh retries (its attempts
        count on); its new result replaces the failed one in the journal and,
        once the batch ends, in the output. Needs a journal (checkpoint=...).
        Returns how many went back: documents that did not fail in this run,
        or already wait to run again, are left out. Raises InvalidArgumentError
        for a document added with content=...: its content is not kept once it ends.
        """
        names = [str(i).encode() for i in ids]
        array = (ctypes.c_char_p * max(1, len(names)))(*names)
        requeued = ctypes.c_size_t()
        lib().bc_batch_retry(ctypes.byref(requeued), self._live(), array, len(names))
        return requeued.value

    def pause(self) -> None:
        """Stops starting documents (calls in flight go on) until resume()."""
        lib().bc_batch_pause(self._live(), 1)

    def resume(self) -> None:
        """Starts documents again after pause()."""
        lib().bc_batch_pause(self._live(), 0)

    def stats(self) -> Stats:
        """A snapshot of the batch's counters; any thread, any time."""
        raw = _capi.sized(_capi.bc_stats)
        lib().bc_batch_stats(ctypes.byref(raw), self._live())
        return Stats.from_c(raw)

    def results(self, follow: bool = False) -> Iterator[DocumentResult]:
        """The results finished so far, in finishing order (kept unless keep_results=False).

        With ``follow=True`` it goes on while the batch runs, yielding each
        result soon after its document finishes (it looks every 10 ms),
        and ends once the batch has ended: read results while the batch
        runs, as ``asyncio.as_completed`` does. The batch must be started
        (start()); wait() still gives the final stats and raises the
        batch's failure.
        """
        if not follow:
            yield from self._results_from(0)
            return
        if not self._started:
            raise StateError("results(follow=True) follows a running batch: call start() first")
        handle, seen = self._live(), 0
        while True:
            ended = _has_ended(handle, 0)
            for result in self._results_from(seen):
                seen += 1
                yield result
            if ended:
                return
            _has_ended(handle, _FOLLOW_WAIT_MS)  # waits for more, or for the end

    def _results_from(self, first: int) -> Iterator[DocumentResult]:
        """The results after the first `first`, read _RESULTS_CHUNK at a time."""
        library = lib()
        cursor = ctypes.c_void_p()
        library.bc_batch_results_from(ctypes.byref(cursor), self._live(), first)
        try:
            chunk = (_capi.bc_result * _RESULTS_CHUNK)()
            chunk[0].struct_size = ctypes.sizeof(_capi.bc_result)  # the stride between elements
            next_many, from_c, fields = library.bc_results_next_many, DocumentResult.from_c, _capi.RESULT_FIELDS
            chunk_bytes = memoryview(chunk).cast("B")
            while True:
                count = next_many(chunk, _RESULTS_CHUNK, cursor)
                if count == 0:
                    return
                for i, values in enumerate(fields.iter_unpack(chunk_bytes[:count * fields.size])):
                    yield from_c(chunk[i], values)
        finally:
            library.bc_results_free(cursor)

    # ---- lifetime --------------------------------------------------------

    def close(self) -> None:
        """Frees the batch (idempotent); a running batch is cancelled hard and waited for.

        StateError from the batch's own event callback or processor calls,
        where the wait would never end.
        """
        if self._events.delivering_on_this_thread():
            raise StateError("cannot close a batch from its own event callback; return from the callback first")
        handle = self._handle
        if handle is not None and self._started:
            try:
                lib().bc_batch_wait(handle, 0)
            except StateError:
                raise StateError("cannot close a batch from inside one of its own processor calls: "
                                 "the close would wait for the call itself; return from the processor first") from None
            except WaitTimeout:
                self.cancel(hard=True)
                _wait_for_end(handle, None)
            except BatchcoreError:
                pass  # the batch's own failure: wait() reports it, close() only frees
        self._handle = None
        self._finalizer()

    def __repr__(self) -> str:
        return "<batchcore.Batch closed>" if self.closed else f"<batchcore.Batch {self.stats().state.value}>"


def _has_ended(handle: int, milliseconds: int) -> bool:
    """Whether the batch has ended, waiting up to `milliseconds` for it. A
    batch that ended in failure has ended: wait() raises its error."""
    try:
        lib().bc_batch_wait(handle, milliseconds)
    except WaitTimeout:
        return False
    except BatchcoreError:
        pass
    return True


def _wait_for_end(handle: int, timeout: Optional[float]) -> None:
    """bc_batch_wait in slices on the main thread, so Ctrl-C is seen while waiting."""
    wait = lib().bc_batch_wait
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    on_main_thread = threading.current_thread() is threading.main_thread()
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        step = remaining
        if on_main_thread:
            step = _MAIN_THREAD_WAIT_SLICE if remaining is None else min(remaining, _MAIN_THREAD_WAIT_SLICE)
        try:
            wait(handle, -1 if step is None else int(step * 1000))
            return
        except WaitTimeout:
            if remaining is not None and time.monotonic() >= deadline:  # type: ignore[operator]
                raise WaitTimeout(f"the batch is still running after {timeout} s") from None


def _default_journal(output: Optional[str]) -> Optional[str]:
    """OUTPUT.journal for a regular output file (not stdout, a pipe or a device), as the CLI does."""
    if not output or output == "-":
        return None
    if os.path.exists(output) and not os.path.isfile(output):
        return None
    return output + ".journal"


def _free(library: Any, handle: int, events: "_EventSink") -> None:
    # From one of the batch's own threads (the garbage collector may run
    # there) this does not wait: the batch ends in the background, and the
    # sink stays alive until its last event.
    library.bc_batch_free(handle)
    events.release()
    _threadstate.reap()


def _metadata_json(metadata: Union[Mapping[str, Any], str, None]) -> Optional[bytes]:
    """Metadata as the C API takes it: a JSON object's UTF-8 text, or NULL."""
    if metadata is None:
        return None
    return (metadata if isinstance(metadata, str) else json.dumps(metadata)).encode("utf-8")


def _encoded_ids(ids: Iterable[Any]) -> List[bytes]:
    ids = list(ids)
    if set(map(type, ids)) - {str}:  # looked into only then: a str subclass passes
        wrong = next((id for id in ids if not isinstance(id, str)), None)
        if wrong is not None:
            raise TypeError(f"a document's id is a str, not {type(wrong).__name__}")
    return [id.encode("utf-8") for id in ids]


def _contents(contents: Iterable[Any]) -> List[bytes]:
    return [content if type(content) is bytes else _content_bytes(content) for content in contents]


def _content_bytes(content: Union[bytes, str]) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    raise TypeError(f"a document's content is bytes or str, not {type(content).__name__}")


def _path(path: PathArgument) -> bytes:
    return os.fsencode(path)


class _EventSink:
    """Delivers one batch's C events to its Python callback.

    C calls one module-level function pointer for every batch, with the
    sink's token as user_data, so no function pointer dies while C may still
    call it. A sink is reachable by its token from on_event() until the
    batch's last event, or until the batch is freed if it never started.
    Holds no reference to the Batch, so a batch nobody refers to is freed.
    """

    def __init__(self, handle: int) -> None:
        self._handle = handle
        self.token = next(_sink_tokens)
        self._callback: Optional[EventCallback] = None
        self._error: Optional[BaseException] = None
        self._delivering_thread: Optional[int] = None
        self._started = False

    def attach(self, callback: EventCallback) -> None:
        self._callback = callback
        _sinks[self.token] = self

    def started(self, started: bool) -> None:
        self._started = started

    def release(self) -> None:
        """The batch was freed. A batch freed from one of its own threads ends
        in the background: its events go on until the last one."""
        if not self._started:
            _sinks.pop(self.token, None)

    def delivering_on_this_thread(self) -> bool:
        return self._delivering_thread == threading.get_ident()

    def raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def deliver(self, event: Any) -> None:
        # Runs on the batch's event thread. An exception must not reach C:
        # it cancels the batch and is re-raised by wait().
        self._delivering_thread = threading.get_ident()
        try:
            if event.type == _capi.BC_EVENT_FINISHED:
                _sinks.pop(self.token, None)  # the last event
            callback = self._callback
            if callback is None or self._error is not None or event.type not in _KNOWN_EVENTS:
                return  # (an unknown type is a newer library's event kind)
            callback(Event.from_c(event))
        except BaseException as error:
            self._error = error
            try:
                lib().bc_batch_cancel(self._handle, _capi.BC_CANCEL_GRACEFUL)
            except BaseException:
                pass
        finally:
            self._delivering_thread = None


_sinks: Dict[int, _EventSink] = {}
_sink_tokens = itertools.count(1)


def _deliver(raw: Any, user_data: Optional[int]) -> None:
    _threadstate.keep_for_this_thread()
    sink = _sinks.get(user_data or 0)
    if sink is not None:
        sink.deliver(raw.contents)


# Module-level: C may call it until the last batch's last event.
_DELIVER = _capi.bc_event_fn(_deliver)

_KNOWN_EVENTS = {_capi.BC_EVENT_DOC_FINISHED, _capi.BC_EVENT_PROGRESS, _capi.BC_EVENT_LOG,
                 _capi.BC_EVENT_FINISHED}


class _AsyncEvents:
    """Events delivered on the batch's event thread, handed to a coroutine."""

    def __init__(self, batch: Batch) -> None:
        self._batch = batch
        self._lock = threading.Lock()
        self._pending: Deque[Event] = collections.deque()
        self._waker: Optional[Tuple[asyncio.AbstractEventLoop, asyncio.Event]] = None
        self._done = False
        batch.on_event(self._push)

    def _push(self, event: Event) -> None:
        with self._lock:
            self._pending.append(event)
            waker = self._waker
        if waker is not None:
            try:
                waker[0].call_soon_threadsafe(waker[1].set)
            except RuntimeError:  # the loop was closed: nobody iterates any more
                pass

    def __aiter__(self) -> "_AsyncEvents":
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        with self._lock:
            if self._waker is None:
                self._waker = (asyncio.get_running_loop(), asyncio.Event())
            waker = self._waker[1]
        if not self._batch._started:
            self._batch.start()
        while True:
            with self._lock:
                if self._pending:
                    event = self._pending.popleft()
                    self._done = event.kind is EventKind.FINISHED
                    return event
                waker.clear()  # under the lock: a later push sets it again
            await waker.wait()
