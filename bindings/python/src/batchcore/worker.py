"""The worker process of a ``python`` stage: ``python -m batchcore.worker --serve-fd 3``.

The engine starts one per worker thread, with its end of a socketpair on
fd 3, and speaks the worker protocol (docs/worker-protocol.md, _frames):
a ``start`` frame names the function as ``module:qualname``; the worker
imports it, runs the stage's ``prepare`` when the start carries no shared
bytes (and hands back their pickle in ``ready``), then answers ``process``
and ``estimate`` frames one at a time until the engine closes the socket.

A crash (a segfault in an extension) ends this process only: the engine
retries the document. SIGTERM marks the call in progress cancelled
(``doc.cancelled``); an idle worker exits at once. When the engine goes
away during a call, the worker exits instead of running on without a host.
"""
from __future__ import annotations

import asyncio
import errno
import faulthandler
import importlib
import importlib.util
import inspect
import os
import pickle
import select
import signal
import socket
import sys
import threading
from typing import Any, Callable, List, Optional

from . import _frames
from ._capi import BC_OUTCOME_FAIL
from .doc import Doc
from .processors import Processor, _run

SOCKET_FD = 3
_SATURATED = (1 << 64) - 1
# The module a __main__:NAME function is loaded as, so the script's
# `if __name__ == "__main__":` part does not run again (as multiprocessing does).
MAIN_MODULE = "__mp_main__"


def resolve(name: str, main_file: Optional[str] = None) -> Any:
    """The object `module:qualname` names; a @processor is its function."""
    module_name, _, qualname = name.partition(":")
    if module_name == "__main__":
        module = _load_main(main_file)
    else:
        module = importlib.import_module(module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return target.function if isinstance(target, Processor) else target


def _load_main(main_file: Optional[str]) -> Any:
    if MAIN_MODULE in sys.modules:
        return sys.modules[MAIN_MODULE]
    if not main_file:
        raise ImportError("the function lives in __main__, and the stage gives no main_file to load it from")
    spec = importlib.util.spec_from_file_location(MAIN_MODULE, main_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {main_file} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_MODULE] = module
    spec.loader.exec_module(module)
    return module


class Connection:
    """Frames over the socket to the engine; sending is thread-safe (doc.log may be called from any thread)."""

    def __init__(self, fd: int) -> None:
        self.socket = socket.socket(fileno=fd)
        self._inbox = _frames.Buffer()
        self._lock = threading.Lock()

    def receive(self) -> Optional[_frames.Reader]:
        """The next frame; None once the engine closed its end."""
        while True:
            frame = self._inbox.next()
            if frame is not None:
                return frame
            try:
                chunk = self.socket.recv(1 << 16)
            except OSError:
                return None
            if not chunk:
                return None
            self._inbox.append(chunk)

    def send(self, frame: bytes) -> bool:
        with self._lock:
            try:
                self.socket.sendall(frame)
                return True
            except OSError:
                return False


class CallRecord:
    """What one call reports, collected for its result frame. Offers the
    bc_call_* functions Doc and processors._report use on the library."""

    def __init__(self, connection: Connection, cancelled: threading.Event) -> None:
        self.result = _frames.ResultFrame()
        self._connection = connection
        self._cancelled = cancelled

    def bc_call_set_output(self, _call: int, data: bytes, _length: int) -> int:
        self.result.output, self.result.output_is_json = bytes(data), False
        return 0

    def bc_call_set_output_json(self, _call: int, data: bytes, _length: int) -> int:
        self.result.output, self.result.output_is_json = bytes(data), True
        return 0

    def bc_call_set_error(self, _call: int, message: bytes) -> int:
        self.result.error = message.decode("utf-8", "replace")
        return 0

    def bc_call_retry_after(self, _call: int, ms: int) -> int:
        self.result.retry_after_ms = ms
        return 0

    def bc_call_add_usage(self, _call: int, input_tokens: int, output_tokens: int) -> int:
        self.result.input_tokens = min(self.result.input_tokens + input_tokens, _SATURATED)
        self.result.output_tokens = min(self.result.output_tokens + output_tokens, _SATURATED)
        return 0

    def bc_call_add_units(self, _call: int, units: int) -> int:
        self.result.units = min(self.result.units + units, _SATURATED)
        return 0

    def bc_call_log(self, _call: int, level: int, message: bytes) -> int:
        self._connection.send(_frames.log(level, message.decode("utf-8", "replace")))
        return 0

    def bc_call_is_cancelled(self, _call: int) -> int:
        return 1 if self._cancelled.is_set() else 0


class Worker:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.cancelled = threading.Event()
        self.busy = False
        self.terminating = False
        self.memory_limit = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def run(self) -> int:
        first = self.connection.receive()
        if first is None or first.kind != _frames.START:
            return 1
        request = _frames.StartRequest.decode(first)
        self.memory_limit = request.memory_limit
        if request.memory_limit:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (request.memory_limit, request.memory_limit))
        faulthandler.enable()  # a crash leaves its Python traceback on stderr
        self._watch_signals_and_engine()
        try:
            function = self._guarded(resolve(request.path, request.options.get("main_file")))
            shared, prepared = self._prepare(request)
        except BaseException as error:
            self.connection.send(_frames.refused(
                f"stage '{request.label}': cannot start {request.path}: {type(error).__name__}: {error}"))
            return 0
        self.connection.send(_frames.ready(None, prepared))
        self._serve(function, shared)
        return 0

    def _prepare(self, request: _frames.StartRequest) -> "tuple[Any, Optional[bytes]]":
        """The stage's shared value, and its pickle when prepare() ran here."""
        if request.shared is not None:
            return pickle.loads(request.shared), None
        name = request.options.get("prepare")
        if not name:
            return None, None
        value = resolve(name, request.options.get("main_file"))()
        return value, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def _guarded(self, function: Callable[[Doc], Any]) -> Callable[[Doc], Any]:
        """`function`, run on this worker's event loop when it is a coroutine
        function; past worker.memory_limit the worker dies as a C plugin would."""
        if inspect.iscoroutinefunction(function):
            coroutine = function
            self._loop = asyncio.new_event_loop()
            function = lambda doc: self._loop.run_until_complete(coroutine(doc))  # type: ignore[union-attr]  # noqa: E731

        def call(doc: Doc) -> Any:
            try:
                return function(doc)
            except MemoryError:
                if not self.memory_limit:
                    raise
                self._die_of_memory()
        return call

    def _die_of_memory(self) -> None:
        pages = int(open("/proc/self/statm").read().split()[0])
        self.connection.send(_frames.dying(signal.SIGABRT, errno.ENOMEM, pages * os.sysconf("SC_PAGE_SIZE")))
        os.abort()

    def _serve(self, function: Callable[[Doc], Any], shared: Any) -> None:
        while not self.terminating:
            frame = self.connection.receive()
            if frame is None:
                return
            fields = _frames.DocumentFrame.decode(frame)
            if frame.kind == _frames.ESTIMATE:
                self.connection.send(_frames.estimated(None))
                continue
            if frame.kind != _frames.PROCESS:
                return
            record = CallRecord(self.connection, self.cancelled)
            self.busy = True
            try:
                record.result.outcome = _run(function, 0, Doc._in_worker(record, fields, shared), record)
            except BaseException:  # reporting itself failed (an unencodable error)
                record.result.outcome = BC_OUTCOME_FAIL
            self.busy = False
            if not self.connection.send(record.result.encode()):
                return

    def _watch_signals_and_engine(self) -> None:
        """SIGTERM cancels the call in progress (an idle worker exits); a
        thread exits the process when the engine goes away during a call."""
        def on_term(_signum: int, _frame: Any) -> None:
            self.cancelled.set()
            self.terminating = True
            if not self.busy:
                os._exit(0)
        signal.signal(signal.SIGTERM, on_term)
        threading.Thread(target=self._exit_without_engine, name="bc-worker-watch", daemon=True).start()

    def _exit_without_engine(self) -> None:
        hangup = getattr(select, "POLLRDHUP", 0x2000) | select.POLLHUP
        poller = select.poll()
        poller.register(self.connection.socket.fileno(), hangup)
        while True:
            if poller.poll(50) and self.busy:
                os._exit(1)
            if not self.busy:
                threading.Event().wait(0.05)


def main(argv: List[str]) -> int:
    if argv[1:] != ["--serve-fd", str(SOCKET_FD)]:
        sys.stderr.write("batchcore.worker runs a Python processor in a process of its own (the python stage, "
                         "or isolation='process'). The engine starts it; it is not meant to be run by hand.\n")
        return 2
    os.set_inheritable(SOCKET_FD, False)  # programs the function starts must not get the socket
    return Worker(Connection(SOCKET_FD)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
