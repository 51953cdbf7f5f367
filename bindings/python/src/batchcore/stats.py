"""A batch's statistics snapshot."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._enum import StrEnum


class BatchState(StrEnum):
    """Where a batch is in its life (bc_batch_state)."""

    NEW = "new"
    RUNNING = "running"
    FINISHED = "finished"    # every document reached a final status
    CANCELLED = "cancelled"  # stopped early by cancel()

    @classmethod
    def from_c(cls, value: int) -> "BatchState":
        return _STATES[value]


_STATES = [BatchState.NEW, BatchState.RUNNING, BatchState.FINISHED, BatchState.CANCELLED]


@dataclass(frozen=True)
class Stats:
    """Counts and rates of one batch at one moment (bc_stats)."""

    state: BatchState
    total: int             # documents known so far
    total_known: bool      # True once every source was read to its end
    workers: int           # effective worker cap of the batch
    ok: int
    partial: int
    failed: int
    skipped: int
    in_flight: int         # documents being processed now
    retry_waiting: int     # documents waiting for a retry
    attempts: int          # processor calls, all stages
    retries: int           # attempts that were retries
    input_tokens: int
    output_tokens: int
    elapsed_seconds: float
    docs_per_hour: float
    mean_doc_ms: float

    @property
    def finished(self) -> int:
        """Documents that reached a final status."""
        return self.ok + self.partial + self.failed + self.skipped

    @classmethod
    def from_c(cls, raw: Any) -> "Stats":
        return cls(
            state=BatchState.from_c(raw.state), total=raw.total, total_known=bool(raw.total_known),
            workers=raw.workers, ok=raw.ok, partial=raw.partial, failed=raw.failed, skipped=raw.skipped,
            in_flight=raw.in_flight, retry_waiting=raw.retry_waiting, attempts=raw.attempts,
            retries=raw.retries, input_tokens=raw.input_tokens, output_tokens=raw.output_tokens,
            elapsed_seconds=raw.elapsed_seconds, docs_per_hour=raw.docs_per_hour,
            mean_doc_ms=raw.mean_doc_ms)
