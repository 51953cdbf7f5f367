"""Distributed batches through Redis: submit, status, collect, and a Worker.

A batch submitted to a Redis server (Batch.submit, or submit() here) is run by
any number of workers on any number of machines: ``batchhost worker`` or a
Python Worker, which runs the batch's stages with the processors it knows,
Python processors included. See README, "Many machines (Redis)".
"""
from __future__ import annotations

import ctypes
import json
import signal
import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from ._capi import BC_CANCEL_GRACEFUL, BC_CANCEL_HARD, bc_line_fn, encode, lib
from .engine import Engine, PathArgument
from .processors import Processor, ProcessorFunction
from .stage import ProcessorSpec, StageSpec


def submit(redis: str, processor: Optional[ProcessorSpec] = None, *,
           stages: Optional[Sequence[StageSpec]] = None,
           files: Iterable[PathArgument] = (), dir: Optional[PathArgument] = None, glob: Optional[str] = None,
           manifest: Optional[PathArgument] = None, lease: Optional[float] = None,
           engine: Optional[Engine] = None, **options: Any) -> str:
    """Submits a batch of files to a Redis server; returns its id.

    ``processor``/``stages`` and the keyword options are those of
    Engine.batch (rate_limit, budget, tenant, ...): limits and the budget are
    shared by every worker. The stages are checked here, as a run checks them:
    a Python processor must be known here too (the worker runs its own copy,
    registered under the same name).
    """
    own = engine is None
    engine = engine or Engine()
    try:
        with engine.batch(processor, stages=stages, **options) as batch:
            for path in files:
                batch.add(path)
            if dir is not None:
                batch.add_dir(dir, glob=glob)
            if manifest is not None:
                batch.add_manifest(manifest)
            return batch.submit(redis, lease=lease)
    finally:
        if own:
            engine.close()


def status(redis: str, batch_id: Optional[str] = None) -> Any:
    """A batch's state as a dict (ok, failed, total, state, workers, ...), or a list of every batch's."""
    library = lib()
    out = ctypes.c_void_p()
    library.bc_redis_status(ctypes.byref(out), encode(redis), encode(batch_id))
    return json.loads(library.take_string(out.value))


def collect(redis: str, batch_id: str, failed: bool = False) -> List[Dict[str, Any]]:
    """Every committed result of a batch once, as the dicts of a run's output
    lines (id, path, status, output, error, ...), in no particular order;
    ``failed`` keeps only the failed ones."""
    lines: List[Dict[str, Any]] = []
    problems: List[BaseException] = []

    def take(address: int, length: int, _user: Any) -> int:
        try:
            lines.append(json.loads(ctypes.string_at(address, length)))
            return 0
        except BaseException as error:  # never raise into the library
            problems.append(error)
            return 1

    lib().bc_redis_collect(encode(redis), encode(batch_id), int(failed), bc_line_fn(take), None)
    if problems:
        raise problems[0]
    return lines


class Worker:
    """Serves the open batches of a Redis server with Python processors and plugins.

    ``processors`` are registered under their names: a batch naming one of
    them runs it here; a batch naming a processor this worker lacks is said
    so on stderr and left to other workers. ``workers`` is the number of
    threads, shared by the batches served; ``tenant`` serves only that
    tenant's batches. start() returns at once; run() serves until stop(),
    SIGTERM or Ctrl-C. stop() finishes the documents held (hard=True hands
    them back). Use it as a context manager.
    """

    def __init__(self, redis: str, processors: Sequence[Union[Processor, ProcessorFunction]] = (), *,
                 workers: int = 4, tenant: Optional[str] = None,
                 plugin_path: Union[PathArgument, Sequence[PathArgument], None] = None, quiet: bool = False) -> None:
        self.redis = redis
        self.engine = Engine(workers=workers, plugin_path=plugin_path)
        for proc in processors:
            self.engine.register(proc)
        self._workers = workers
        self._tenant = tenant
        self._quiet = quiet
        self._handle: Optional[int] = None
        self._stop_asked = threading.Event()

    def start(self) -> "Worker":
        if self._handle is None:
            out = ctypes.c_void_p()
            lib().bc_redis_worker_start(ctypes.byref(out), self.engine._live(), encode(self.redis),
                                        self._workers, encode(self._tenant), int(self._quiet))
            self._handle = out.value
        return self

    def run(self) -> None:
        """Serves until stop() (from another thread), SIGTERM or Ctrl-C, then stops gracefully."""
        self.start()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: self._stop_asked.set())
        try:
            while not self._stop_asked.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self.stop()

    def stop(self, hard: bool = False) -> None:
        """Stops serving and waits until the worker has: its documents finish (or, hard, go back to others)."""
        self._stop_asked.set()
        handle = self._handle
        if handle is not None:
            lib().bc_redis_worker_stop(handle, BC_CANCEL_HARD if hard else BC_CANCEL_GRACEFUL)
            lib().bc_redis_worker_free(handle)
            self._handle = None

    def close(self) -> None:
        self.stop()
        self.engine.close()

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.close()
