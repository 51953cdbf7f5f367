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
import functools
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
# call the pointers, so ctypes must not free them.
_registrations: Dict[int, Any] = {}
_tokens = itertools.count(1)


def _release(user_data: Optional[int]) -> None:
    _registrations.pop(user_data or 0, None)


# Module-level, so it outlives every registration it releases.
_RELEASE = _capi.bc_release_fn(_release)


def register(engine_handle: int, proc: Processor, loop: Callable[[], "_aio.EventLoopThread"]) -> None:
    """Registers `proc` with an engine. A function without a prepare
    function is a bc_processor_def called on the engine's worker threads;
    the others are descriptors (bc_engine_register_plugin) whose create()
    makes an instance per batch stage, holding its prepared value (which
    the engine keeps in the journal). An async processor's instance is a
    bc_call_queue: its process() is the C library's bc_call_queue_push, so
    the engine's threads queue the calls without entering Python, and the
    event loop `loop()` takes them in batches."""
    if proc.is_async:
        _register_descriptor(engine_handle, proc, _async_callbacks(proc, loop))
    elif proc.prepare is not None:
        _register_descriptor(engine_handle, proc, _prepared_callbacks(proc))
    else:
        _register_function(engine_handle, proc)


def _register_function(engine_handle: int, proc: Processor) -> None:
    """A bc_processor_def whose process() calls the function."""
    token = next(_tokens)
    callbacks = _capi.bc_process_fn(lambda call, raw_doc, user_data: _call(proc, call, raw_doc, None))
    definition = _capi.sized(_capi.bc_processor_def)
    definition.process = callbacks
    definition.release = _RELEASE
    definition.user_data = token
    _registered(token, callbacks, _describe(definition, proc),
                lambda: lib().bc_engine_register_processor(engine_handle, ctypes.byref(definition)))


def _register_descriptor(engine_handle: int, proc: Processor, callbacks: Any) -> None:
    """A bc_plugin descriptor of create(), process(), destroy() and prepare() (`callbacks`)."""
    token = next(_tokens)
    definition = _capi.sized(_capi.bc_plugin)
    definition.abi_version, definition.abi_minor = _capi.BC_PLUGIN_ABI_MAJOR, _capi.BC_PLUGIN_ABI_MINOR
    definition.create, definition.process, definition.destroy = callbacks[:3]
    if proc.prepare is not None:
        definition.prepare = callbacks[3]
    if proc.is_async:  # its calls only queue: no thread waits for them
        definition.flags = _capi.BC_PLUGIN_FLAG_NONBLOCKING
    _registered(token, callbacks, _describe(definition, proc),
                lambda: lib().bc_engine_register_plugin(engine_handle, ctypes.byref(definition), _RELEASE, token))


def _call(proc: Processor, call: int, raw_doc: Any, shared: Any) -> int:
    """A function's call on an engine worker thread."""
    try:
        _threadstate.keep_for_this_thread()
        return _run(proc.function, call, Doc(call, raw_doc.contents, shared))
    except BaseException:  # nothing may cross into C; the document fails
        return _capi.BC_OUTCOME_FAIL


def _describe(definition: Any, proc: Processor) -> Any:
    definition.name = proc.name.encode("utf-8")
    definition.description = proc.description.encode("utf-8")
    return definition


def _registered(token: int, callbacks: Any, definition: Any, register_c: Callable[[], Any]) -> None:
    """Keeps `callbacks` alive under `token` while C may call them, then registers."""
    _registrations[token] = callbacks
    try:
        register_c()
    except BaseException:
        _registrations.pop(token, None)  # refused: C never keeps it
        raise


# The prepared value of each instance of a function with a prepare function
# (one per batch stage that runs it), by the token its create() hands the
# engine as the instance's state.
_instances: Dict[int, Any] = {}


def _prepared_callbacks(proc: Processor) -> Any:
    """create(), process(), destroy() and prepare() of a function with a
    prepare function: each instance's value is every call's doc.shared. One
    registration serves any number of stages and batches, each with its own value."""
    def new_instance(shared: Any) -> int:
        token = next(_tokens)
        _instances[token] = shared
        return token

    create, destroy, prepare = _instance_callbacks(proc, new_instance, lambda token: _instances.pop(token, None))
    process = _capi.bc_plugin_process_fn(
        lambda state, call, raw_doc: _call(proc, call, raw_doc, _instances.get(state or 0)))
    return create, process, destroy, prepare


def _async_callbacks(proc: Processor, loop: Callable[[], "_aio.EventLoopThread"]) -> Any:
    """create(), process(), destroy() and prepare() of an async processor:
    each instance is a bc_call_queue the loop watches, with its own
    concurrency count and prepared value; process() is bc_call_queue_push."""
    library = lib()
    function = proc.function
    watched: Dict[int, "_aio.EventLoopThread"] = {}  # each queue's loop

    def new_queue(shared: Any) -> int:
        out = ctypes.c_void_p()
        library.bc_call_queue_new(ctypes.byref(out))
        queue = _capi.handle(out)
        watched[queue] = loop()
        watched[queue].watch(queue, _aio.AsyncStage(function, shared,
                                                    functools.partial(_report, watched[queue].held_outputs),
                                                    functools.partial(_async_failure, library), proc.concurrency))
        return queue

    create, destroy, prepare = _instance_callbacks(proc, new_queue, lambda queue: watched.pop(queue).retire(queue))
    process = _capi.bc_plugin_process_fn(library.address("bc_call_queue_push"))
    return create, process, destroy, prepare


def _instance_callbacks(proc: Processor, new_instance: Callable[[Any], int],
                        end_instance: Callable[[int], Any]) -> Any:
    """create(), destroy() and prepare() of a descriptor. prepare() hands
    the engine the tagged bytes of proc.prepare()'s value (kept in the
    journal); create() decodes the bytes it is given (prepared now, or by an
    earlier run; None without a prepare function) and makes an instance of
    that value, its state; destroy() ends it. A failure is kept in
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
            state[0] = new_instance(_prepared.decode(ctypes.string_at(address, length.value)) if address else None)
            return 0
        except BaseException as error:
            return _refuse(proc, error, errbuf, size)

    def destroy(state: Optional[int]) -> None:
        end_instance(state or 0)

    return (_capi.bc_plugin_create_fn(create), _capi.bc_plugin_destroy_fn(destroy),
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


def _async_failure(library: Any, call: int, error: BaseException) -> int:
    """As _failure, for a coroutine: a cancelled one (the call timed out, or
    the batch was cancelled hard) retries."""
    if isinstance(error, asyncio.CancelledError):
        library.bc_call_set_error(call, b"cancelled")
        return _capi.BC_OUTCOME_RETRY
    return _failure(library, call, error)


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


def _json_encoder() -> Callable[[Any], str]:
    """json.dumps(value, ensure_ascii=False, separators=(",", ":"),
    allow_nan=False, check_circular=False), with json's C encoder made once:
    dumps makes one per call, which was a third of an output's cost. A
    value that contains itself fails with RecursionError."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the _json accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False).encode

    def default(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encoder = make(None, default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(encoder(value, 0))


_json_output = _json_encoder()


def _report(library: Any, call: int, value: Any) -> int:
    """Hands a processor's return value to the engine; returns the outcome."""
    if isinstance(value, (dict, list)):  # the most common first
        _set_output_json(library, call, value)
        return _capi.BC_OUTCOME_DONE
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
        _set_output_json(library, call, value)
    else:
        raise TypeError(f"a processor returns str, bytes, dict, list, Result or None, not {type(value).__name__}")
    return outcome


def _set_output_json(library: Any, call: int, value: Any) -> None:
    text = _json_output(value).encode("utf-8")
    if library.bc_call_set_output_json(call, text, len(text)) < 0:
        raise ValueError("the engine refused the JSON output")
