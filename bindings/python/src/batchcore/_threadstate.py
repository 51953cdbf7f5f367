"""Keeps a Python thread state on each engine thread that calls into Python.

ctypes runs a callback on a thread Python did not start in a fresh thread
state, created before the call and deleted after it: about 8 µs per call,
more than most processors' own work. So the first callback on such a thread
takes one more reference to its state (PyGILState_Ensure without a matching
release) and the state is reused by every later call on that thread.

The engine's threads come and go with the batches that need them. reap()
deletes the kept states of threads that have exited; the engine and batch
call it when they are created and closed, so states do not accumulate.

Only the engine's own threads run callbacks (worker threads and each batch's
event thread), never threads Python started — whose states Python deletes
itself. Linux only: an exited thread is one missing from /proc/self/task.
Elsewhere, or on interpreters other than CPython, callbacks keep ctypes'
state per call.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Dict

_ENABLED = sys.implementation.name == "cpython" and os.path.isdir("/proc/self/task")

_local = threading.local()  # per thread state: a new state starts without `kept`
_lock = threading.Lock()
_kept: Dict[int, int] = {}  # thread state address → native thread id

if _ENABLED:
    _ensure = ctypes.pythonapi.PyGILState_Ensure
    _ensure.restype = ctypes.c_int
    _ensure.argtypes = []
    _current = ctypes.pythonapi.PyThreadState_Get
    _current.restype = ctypes.c_void_p
    _current.argtypes = []
    _clear = ctypes.pythonapi.PyThreadState_Clear
    _clear.restype = None
    _clear.argtypes = [ctypes.c_void_p]
    _delete = ctypes.pythonapi.PyThreadState_Delete
    _delete.restype = None
    _delete.argtypes = [ctypes.c_void_p]


def keep_for_this_thread() -> None:
    """Called at the start of every callback from the engine; cheap after the first on a thread."""
    if not _ENABLED or getattr(_local, "kept", False):
        return
    _ensure()  # never released: the state outlives this call
    _local.kept = True
    with _lock:
        _kept[_current()] = threading.get_native_id()


def reap() -> None:
    """Deletes the kept states of threads that have exited."""
    if not _kept:
        return
    with _lock:
        for state, thread_id in list(_kept.items()):
            if not os.path.exists(f"/proc/self/task/{thread_id}"):
                del _kept[state]
                _clear(state)
                _delete(state)


def kept_count() -> int:
    """States kept now (for tests)."""
    return len(_kept)
