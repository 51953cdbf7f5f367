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
    resumed: int           # finished in the journal before this run (counted, not run)
    deduplicated: int      # results reused from identical content
    rate_limit_waiting: int  # documents waiting for the rate limit
    timeouts: int          # attempts that overran the timeout
    units: int             # free-form units processors reported
    cost_usd: float        # spent so far, earlier runs of the journal included
    estimated_total_cost_usd: float  # likely cost of the whole input; 0 until known
    budget_reached: bool   # the budget stopped the batch
    sampled_from: int      # sample mode: documents in the whole input (0 otherwise)
    projected_seconds: float  # sample mode: time the whole input would take
    projected_cost_usd: float  # sample mode: what the whole input would cost

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
            mean_doc_ms=raw.mean_doc_ms, resumed=raw.resumed, deduplicated=raw.deduplicated,
            rate_limit_waiting=raw.rate_limit_waiting, timeouts=raw.timeouts, units=raw.units,
            cost_usd=raw.cost_usd, estimated_total_cost_usd=raw.estimated_total_cost_usd,
            budget_reached=bool(raw.budget_reached), sampled_from=raw.sampled_from,
            projected_seconds=raw.projected_seconds, projected_cost_usd=raw.projected_cost_usd)
