"""What a Python processor may return or raise besides plain output."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from ._counts import count
from .results import Status

# What a processor may return: text (UTF-8), bytes, a dict or list (JSON
# output), a Result, or None (no output).
Output = Union[str, bytes, bytearray, memoryview, Dict[str, Any], List[Any], None]


@dataclass
class Result:
    """An explicit outcome: output plus a status other than "ok", an error message, or usage.

    ``status`` is "ok", "partial" (usable but incomplete: later stages still
    run and the document ends partial, with ``error`` as its message) or
    "failed" (permanent; ``error`` says why).
    """

    output: Output = None
    status: Union[Status, str] = Status.OK
    error: Optional[str] = None
    input_tokens: int = 0
    output_tokens: int = 0

    def __post_init__(self) -> None:
        count("Result.input_tokens", self.input_tokens)
        count("Result.output_tokens", self.output_tokens)


class Retry(Exception):
    """Raise in a processor for a transient failure: the document is tried again.

    ``after`` (seconds) asks for no retry sooner than that, e.g. an API's
    Retry-After; without it the batch's backoff (retry.base, retry.max)
    applies. After retry.attempts attempts the document fails with
    "gave up after N attempts: MESSAGE".
    """

    def __init__(self, message: str = "", after: Optional[float] = None) -> None:
        super().__init__(message)
        self.message = message
        self.after = after
