"""The engine: worker threads, the global worker cap, the processors it knows."""
from __future__ import annotations

import ctypes
import json
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _aio, _capi, _threadstate
from ._capi import encode, lib
from ._handle import OwnedHandle
from .options import option_value
from .processors import Processor, ProcessorFunction
from .processors import register as register_processor

if TYPE_CHECKING:
    from .batch import Batch
    from .stage import ProcessorSpec, StageSpec

PathArgument = Union[str, "os.PathLike[str]"]


class Engine(OwnedHandle):
    """Owns the worker threads and the processors; runs any number of batches.

    ``workers`` caps the worker threads over all batches (engine option
    max_workers); ``plugin_path`` adds plugin directories (a list, or one
    string of directories separated by os.pathsep), searched before
    $BATCHCORE_PLUGIN_PATH, ./plugins and the library's own directory. Other
    keywords are engine options (bc_engine_set).

    Use it as a context manager, or call close(). A batch keeps the engine
    alive: closing the engine while batches are open only ends this handle.
    """

    _kind = "engine"

    def __init__(self, workers: Optional[int] = None,
                 plugin_path: Union[PathArgument, Sequence[PathArgument], None] = None,
                 **options: Any) -> None:
        library = lib()
        _threadstate.reap()
        out = ctypes.c_void_p()
        library.bc_engine_new(ctypes.byref(out))
        handle = _capi.handle(out)
        self._handle: Optional[int] = handle
        # Frees the handle exactly once: on close(), when collected, or at exit.
        self._finalizer = weakref.finalize(self, library.bc_engine_free, handle)
        self._processors: Dict[str, Processor] = {}
        self._wrapped: Dict[ProcessorFunction, Processor] = {}  # plain functions, wrapped once
        # Stages given their own prepare function: one processor per (processor, prepare).
        self._with_prepare: Dict[Tuple[Any, Optional[Callable[[], Any]]], Processor] = {}
        self._lock = threading.Lock()
        # The event loop of async processors, started on first use; stopped when the engine is collected.
        self._loop = _aio.LazyEventLoop()
        weakref.finalize(self, self._loop.close)
        try:
            if workers is not None:
                self.set("max_workers", workers)
            for directory in _plugin_dirs(plugin_path):
                self.set("plugin_dir", directory)
            for key, value in options.items():
                if value is not None:
                    self.set(key, value)
        except BaseException:
            self.close()
            raise

    # ---- configuration ---------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        """Sets an engine option ("max_workers", "plugin_dir"); OptionError names what was wrong."""
        lib().bc_engine_set(self._live(), encode(key), encode(option_value(value)))

    def set_tenant(self, tenant: str, *, max_workers: Optional[int]) -> None:
        """Caps the workers of every batch of ``tenant`` together (the batch
        option ``tenant``); None removes the cap. A batch's own
        ``tenant_max_workers`` sets the same cap when it starts."""
        self.set("tenant.max_workers", f"{tenant}={max_workers or 0}")

    def register(self, proc: Union[Processor, ProcessorFunction]) -> Processor:
        """Makes a Python processor available to this engine's batches under its name.

        Batches register the processors of their stages themselves; call this
        to refer to one by name. Registering the same processor again does
        nothing; another one under a taken name is an InvalidArgumentError.
        A plain function (not decorated with @processor) is registered under
        its __name__, made unique with -2, -3, … (two lambdas may share a batch).
        """
        with self._lock:
            if not isinstance(proc, Processor):
                wrapped = self._wrapped.get(proc)
                if wrapped is None:
                    wrapped = Processor(proc, self._free_name(getattr(proc, "__name__", "function")))
                    self._wrapped[proc] = wrapped
                proc = wrapped
            if self._processors.get(proc.name) is proc:
                return proc
            register_processor(self._live(), proc, self._loop.get)
            self._processors[proc.name] = proc
        return proc

    def _prepared_by(self, spec: Union[Processor, ProcessorFunction], prepare: Optional[Callable[[], Any]]) -> Processor:
        """`spec` with its stage's own `prepare`: one processor per pair, so
        that every batch giving the same pair names the same processor (and
        resumes the journal of an earlier one)."""
        with self._lock:
            own = self._with_prepare.get((spec, prepare))
            if own is None:
                base = spec if isinstance(spec, Processor) else Processor(spec)
                own = Processor(base.function, self._free_name(base.name), base.description,
                                base.concurrency if base.is_async else None, prepare)
                self._with_prepare[(spec, prepare)] = own
            return own

    def _free_name(self, base: str) -> str:
        taken = set(self._processors) | {proc.name for proc in self._with_prepare.values()}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def processors(self) -> List[Dict[str, Any]]:
        """Every processor the engine can find: registered, built-in and plugins on the search path."""
        library = lib()
        out = ctypes.c_void_p()
        library.bc_engine_list_processors(ctypes.byref(out), self._live())
        found: List[Dict[str, Any]] = json.loads(library.take_string(out.value))
        return found

    def stats(self) -> Dict[str, Any]:
        """The engine's numbers now: each running batch, totals per tenant (the
        batch option ``tenant``) and the workers in use (see bc_engine_stats)."""
        library = lib()
        out = ctypes.c_void_p()
        library.bc_engine_stats(ctypes.byref(out), self._live())
        stats: Dict[str, Any] = json.loads(library.take_string(out.value))
        return stats

    # ---- batches ---------------------------------------------------------

    def batch(self, processor: Optional["ProcessorSpec"] = None, *,
              stages: Optional[Sequence["StageSpec"]] = None,
              workers: Optional[int] = None,
              output: Optional[PathArgument] = None,
              checkpoint: Optional[PathArgument] = None,
              rate_limit: Optional[str] = None,
              retry_attempts: Optional[int] = None,
              timeout: Any = None,
              budget: Optional[float] = None,
              **options: Any) -> "Batch":
        """A new batch with one stage (``processor``) or a pipeline (``stages``).

        Keyword arguments are batch options of the registry, dots spelled as
        underscores (retry_attempts is retry.attempts; see batchcore.options()).
        A keyword the engine does not know raises OptionError with its message.
        """
        from .batch import Batch

        if processor is not None and stages is not None:
            raise TypeError("give either processor= (one stage) or stages= (a pipeline), not both")
        batch = Batch(self)
        try:
            batch.configure(workers=workers, output=output, checkpoint=checkpoint, rate_limit=rate_limit,
                            retry_attempts=retry_attempts, timeout=timeout, budget=budget, **options)
            for stage in [processor] if processor is not None else (stages or []):
                batch.add_stage(stage)
        except BaseException:
            batch.close()
            raise
        return batch

    # ---- lifetime --------------------------------------------------------

    def close(self) -> None:
        """Releases this handle (idempotent). Open batches keep the engine running."""
        self._handle = None
        self._finalizer()
        _threadstate.reap()

    def __repr__(self) -> str:
        return f"<batchcore.Engine{' closed' if self.closed else ''}>"


def _plugin_dirs(plugin_path: Union[PathArgument, Sequence[PathArgument], None]) -> List[str]:
    if plugin_path is None:
        return []
    if isinstance(plugin_path, (str, os.PathLike)):
        return [d for d in os.fspath(plugin_path).split(os.pathsep) if d]
    return [os.fspath(d) for d in plugin_path]
