"""Events a running batch delivers to its callback."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from . import _capi
from ._capi import decode, decode_name
from ._enum import StrEnum
from .results import Status
from .stats import Stats


class EventKind(StrEnum):
    DOCUMENT = "document"  # a document reached its final status
    PROGRESS = "progress"  # periodic, every progress.interval
    LOG = "log"            # a processor logged a message
    FINISHED = "finished"  # the batch ended; always the last event


_KINDS = {
    _capi.BC_EVENT_DOC_FINISHED: EventKind.DOCUMENT,
    _capi.BC_EVENT_PROGRESS: EventKind.PROGRESS,
    _capi.BC_EVENT_LOG: EventKind.LOG,
    _capi.BC_EVENT_FINISHED: EventKind.FINISHED,
}

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Event:
    """One event (bc_event). Document fields are set for DOCUMENT, and for LOG about a document."""

    kind: EventKind
    stats: Stats
    id: Optional[str] = None
    path: Optional[str] = None
    status: Optional[Status] = None
    attempts: int = 0
    error: Optional[str] = None
    duration_ms: float = 0.0
    level: Optional[str] = None    # LOG: "debug", "info", "warning" or "error"
    message: Optional[str] = None  # LOG

    @classmethod
    def from_c(cls, raw: Any) -> "Event":
        kind = _KINDS[raw.type]
        level = None
        if kind is EventKind.LOG:
            level = LOG_LEVELS[raw.log_level] if 0 <= raw.log_level < len(LOG_LEVELS) else str(raw.log_level)
        return cls(
            kind=kind,
            stats=Stats.from_c(raw.stats.contents),
            id=decode_name(raw.doc_id),
            path=decode_name(raw.doc_path),
            status=Status.from_c(raw.status) if kind is EventKind.DOCUMENT else None,
            attempts=raw.attempts,
            error=decode(raw.error),
            duration_ms=raw.duration_ms,
            level=level,
            message=decode(raw.message))
