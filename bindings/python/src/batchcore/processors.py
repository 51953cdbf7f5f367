"""Processors written in Python, and how the engine calls them.

A processor is a function ``(doc) -> output``. The engine calls it from its
worker threads through a C function pointer (each call takes the GIL);
whatever happens in it becomes a well-formed outcome for C: never an
exception crossing into the engine, never an undefined return value. An
``async def`` processor runs on the engine's event loop instead (see _aio).
"""
from __future__ import annotations

import asyncio
import ctypes
import inspect
import itertools
import json
import traceback
from typing import Any, Callable, Dict, Optional, Union, overload

from . import _aio, _capi, _prepared, _threadstate
from ._capi import lib
from ._counts import count
from .doc import Doc
from .outcome import Output, Result, Retry
from .results import Status

ProcessorFunction = Callable[[Doc], Union[Output, Result]]

DEFAULT_CONCURRENCY = 100


class Processor:
    """A Python function the engine can run as a stage. Calling it calls the function."""

    def __init__(self, function: ProcessorFunction, name: Optional[str] = None,
                 description: Optional[str] = None, concurrency: Optional[int] = None,
                 prepare: Optional[Callable[[], Any]] = None) -> None:
        self.function = function
        # Run once per batch stage when the batch starts; its value is every call's doc.shared.
        self.prepare = prepare
        self.prepare_error: Optional[BaseException] = None  # what prepare (or decoding its value) raised
        self.is_async = inspect.iscoroutinefunction(function)
        if concurrency is not None and (not self.is_async or isinstance(concurrency, bool) or concurrency < 1):
            raise ValueError("concurrency is for async def processors: a whole number from 1"
                             if self.is_async else f"concurrency applies to async def processors; {function!r} is not one")
        # Most coroutines of this processor running at once, per stage.
        self.concurrency: int = concurrency or DEFAULT_CONCURRENCY
        self.name: str = name or str(getattr(function, "__name__", type(function).__name__))
        if description is None:
            doc = (getattr(function, "__doc__", None) or "").strip()
            description = doc.splitlines()[0] if doc else ""
        self.description: str = description

    def __call__(self, doc: Doc) -> Union[Output, Result]:
        return self.function(doc)

    def __repr__(self) -> str:
        return f"<batchcore.Processor {self.name!r}>"


@overload
def processor(function: ProcessorFunction) -> Processor: ...


@overload
def processor(*, name: Optional[str] = None, description: Optional[str] = None,
              concurrency: Optional[int] = None,
              prepare: Optional[Callable[[], Any]] = None) -> Callable[[ProcessorFunction], Processor]: ...


def processor(function: Optional[ProcessorFunction] = None, *, name: Optional[str] = None,
              description: Optional[str] = None, concurrency: Optional[int] = None,
              prepare: Optional[Callable[[], Any]] = None) -> Any:
    """Makes a function a processor: ``@processor`` or ``@processor(name="...")``.

    The name (default: the function's name) is how stages and
    `batchhost plugins`-style listings (Engine.processors) refer to it; the
    description defaults to the docstring's first line. An ``async def``
    function runs on the engine's event loop, at most ``concurrency``
    (default 100) at once per stage. ``prepare`` is a function run once per
    batch stage when the batch starts; what it returns is every call's
    ``doc.shared``.
    """
    if function is not None:
        return Processor(function, name, description, concurrency, prepare)
    return lambda f: Processor(f, name, description, concurrency, prepare)


# ---- Registration --------------------------------------------------------

# The C function pointers of every registration, by the token handed to C as
# user_data. An entry lives until the engine calls release: until then C may
# call the pointer, so ctypes must not free it.
_registrations: Dict[int, Any] = {}
_tokens = itertools.count(1)


def _release(user_data: Optional[int]) -> None:
    _registrations.pop(user_data or 0, None)


# Module-level, so it outlives every registration it releases.
_RELEASE = _capi.bc_release_fn(_release)


def register(engine_handle: int, proc: Processor, loop: Callable[[], "_aio.EventLoopThread"]) -> None:
    """Registers `proc` with an engine; an async processor runs on the event
    loop `loop()` gives. One with a prepare function is registered as a
    descriptor (bc_engine_register_plugin) whose prepare() the engine runs
    and keeps in the journal; the others as a bc_processor_def."""
    function = proc.function
    stage = _aio.AsyncStage(lambda doc, call: _run_async(function, call, doc), proc.concurrency)

    def process(call: int, raw_doc: Any, shared: Any = None) -> int:
        try:
            _threadstate.keep_for_this_thread()
            doc = Doc(call, raw_doc.contents, shared)
            if proc.is_async:
                return loop().start(stage, call, doc)
            return _run(function, call, doc)
        except BaseException:  # nothing may cross into C; the document fails
            return _capi.BC_OUTCOME_FAIL

    token = next(_tokens)
    if proc.prepare is None:
        callbacks: Any = _capi.bc_process_fn(lambda call, raw_doc, user_data: process(call, raw_doc))
        definition = _capi.sized(_capi.bc_processor_def)
        definition.process = callbacks
        definition.release = _RELEASE
        definition.user_data = token
        register_c = lambda: lib().bc_engine_register_processor(engine_handle, ctypes.byref(definition))  # noqa: E731
    else:
        callbacks = _prepared_callbacks(proc, process)
        definition = _capi.sized(_capi.bc_plugin)
        definition.abi_version, definition.abi_minor = _capi.BC_PLUGIN_ABI_MAJOR, _capi.BC_PLUGIN_ABI_MINOR
        definition.create, definition.process, definition.destroy, definition.prepare = callbacks
        register_c = lambda: lib().bc_engine_register_plugin(engine_handle, ctypes.byref(definition),  # noqa: E731
                                                             _RELEASE, token)
    definition.name = proc.name.encode("utf-8")
    definition.description = proc.description.encode("utf-8")
    if proc.is_async:  # its calls only start a coroutine: no thread waits for them
        definition.flags = _capi.BC_PLUGIN_FLAG_NONBLOCKING
    _registrations[token] = callbacks
    try:
        register_c()
    except BaseException:
        _registrations.pop(token, None)  # refused: C never keeps it
        raise


# The prepared value of each instance of a processor with a prepare
# function (one per batch stage that runs it), by the token its create()
# hands the engine as the instance's state.
_instances: Dict[int, Any] = {}


def _prepared_callbacks(proc: Processor, process: Callable[..., int]) -> Any:
    """create(), process(), destroy() and prepare() of a descriptor: prepare()
    hands the engine the tagged bytes of proc.prepare()'s value (kept in the
    journal); create() decodes the bytes it is given (prepared now, or by an
    earlier run) into the value of a new instance, which process() hands to
    each call as doc.shared. One registration serves any number of stages
    and batches, each with its own value. A failure is kept in
    proc.prepare_error, for Batch.start to raise."""
    def prepare(host: Any, config: int, errbuf: int, size: int) -> int:
        try:
            data = _prepared.encode(proc.prepare(), proc.prepare)  # type: ignore[misc]  # set for this descriptor
            return 0 if host.contents.set_shared(config, data, len(data)) == 0 else 1
        except BaseException as error:
            return _refuse(proc, error, errbuf, size)

    def create(host: Any, config: int, state: Any, errbuf: int, size: int) -> int:
        try:
            length = ctypes.c_size_t()
            address = host.contents.shared(config, ctypes.byref(length))
            token = next(_tokens)
            _instances[token] = _prepared.decode(ctypes.string_at(address, length.value)) if address else None
            state[0] = token
            return 0
        except BaseException as error:
            return _refuse(proc, error, errbuf, size)

    def destroy(state: Optional[int]) -> None:
        _instances.pop(state or 0, None)

    return (_capi.bc_plugin_create_fn(create),
            _capi.bc_plugin_process_fn(lambda state, call, raw_doc: process(call, raw_doc, _instances.get(state or 0))),
            _capi.bc_plugin_destroy_fn(destroy),
            _capi.bc_plugin_prepare_fn(prepare))


def _refuse(proc: Processor, error: BaseException, errbuf: int, size: int) -> int:
    """Writes `error` into a C errbuf of `size` bytes and keeps it for Batch.start; returns 1."""
    proc.prepare_error = error
    message = (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__).encode("utf-8", "replace")
    ctypes.memmove(errbuf, message[:size - 1] + b"\0", min(len(message), size - 1) + 1)
    return 1


# ---- One call ------------------------------------------------------------

_OUTCOMES = {
    Status.OK: _capi.BC_OUTCOME_DONE,
    Status.PARTIAL: _capi.BC_OUTCOME_PARTIAL,
    Status.FAILED: _capi.BC_OUTCOME_FAIL,
}


def _run(function: ProcessorFunction, call: int, doc: Doc, library: Any = None) -> int:
    """Calls `function`; reports its value or exception through `library`
    (the C library's bc_call_*, or what a worker process records)."""
    library = library or lib()
    try:
        return _report(library, call, function(doc))
    except BaseException as error:
        return _failure(library, call, error)
    finally:
        doc._end_call()


async def _run_async(function: Any, call: int, doc: Doc) -> int:
    """As _run, for a coroutine function on the event loop. A cancelled
    task (the call timed out, or the batch was cancelled hard) retries."""
    try:
        return _report(lib(), call, await function(doc))
    except asyncio.CancelledError:
        lib().bc_call_set_error(call, b"cancelled")
        return _capi.BC_OUTCOME_RETRY
    except BaseException as error:
        return _failure(lib(), call, error)
    finally:
        doc._end_call()


def _failure(library: Any, call: int, error: BaseException) -> int:
    """The outcome of a processor that raised `error`: Retry retries, anything
    else fails only its document."""
    if isinstance(error, Retry):
        if error.message:
            library.bc_call_set_error(call, error.message.encode("utf-8"))
        if error.after is not None:
            library.bc_call_retry_after(call, max(0, round(error.after * 1000)))
        return _capi.BC_OUTCOME_RETRY
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    library.bc_call_set_error(call, message.encode("utf-8", "replace"))
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    library.bc_call_log(call, 0, trace.encode("utf-8", "replace"))
    return _capi.BC_OUTCOME_FAIL


def _report(library: Any, call: int, value: Any) -> int:
    """Hands a processor's return value to the engine; returns the outcome."""
    outcome = _capi.BC_OUTCOME_DONE
    if isinstance(value, Result):
        try:
            outcome = _OUTCOMES[Status(value.status)]
        except (ValueError, KeyError):
            raise ValueError(f"Result.status must be 'ok', 'partial' or 'failed', not {value.status!r}") from None
        if value.error is not None:
            library.bc_call_set_error(call, value.error.encode("utf-8"))
        if value.input_tokens or value.output_tokens:  # checked again: fields may change after __init__
            library.bc_call_add_usage(call, count("Result.input_tokens", value.input_tokens),
                                      count("Result.output_tokens", value.output_tokens))
        value = value.output
    if value is None:
        return outcome
    if isinstance(value, str):
        data = value.encode("utf-8")
        library.bc_call_set_output(call, data, len(data))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        library.bc_call_set_output(call, data, len(data))
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if library.bc_call_set_output_json(call, text, len(text)) < 0:
            raise ValueError("the engine refused the JSON output")
    else:
        raise TypeError(f"a processor returns str, bytes, dict, list, Result or None, not {type(value).__name__}")
    return outcome
