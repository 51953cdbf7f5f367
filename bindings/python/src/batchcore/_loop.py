"""The engine's asyncio loop: asyncio's selector loop, scheduling with less Python.

Every awaited sleep or I/O of an async processor goes through call_soon,
call_later and call_at. asyncio's own run each through two or three Python
frames of checks that only its debug mode needs; with thousands of calls in
flight those frames were a twentieth of the loop's time. Here each makes
its handle directly, with the same handles, order and errors; in debug mode
(PYTHONASYNCIODEBUG, loop.set_debug) asyncio's own methods run.
"""
from __future__ import annotations

import asyncio
import heapq
import time
from asyncio import events
from typing import Any, Callable, Optional

_Handle, _TimerHandle = events.Handle, events.TimerHandle


class EngineLoop(asyncio.SelectorEventLoop):  # type: ignore[misc,valid-type]
    # Reads asyncio's own fields (_closed, _debug, _ready, _scheduled), as
    # its subclasses in the standard library do.

    time = staticmethod(time.monotonic)  # BaseEventLoop.time, less a frame

    def call_soon(self, callback: Callable[..., Any], *args: Any, context: Optional[Any] = None) -> events.Handle:
        if self._debug:
            return super().call_soon(callback, *args, context=context)
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,
                context: Optional[Any] = None) -> events.TimerHandle:
        if self._debug or when is None:  # asyncio's own checks and messages
            return super().call_at(when, callback, *args, context=context)
        if self._closed:
            raise RuntimeError("Event loop is closed")
        timer = _TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any,
                   context: Optional[Any] = None) -> events.TimerHandle:
        if self._debug or delay is None:
            return super().call_later(delay, callback, *args, context=context)
        return self.call_at(self.time() + delay, callback, *args, context=context)
