"""A document's final result."""
from __future__ import annotations

import json
from typing import Any, Dict, NamedTuple, Optional, Tuple

from ._enum import StrEnum


class Status(StrEnum):
    """A document's status (bc_status). Compares equal to its string: Status.OK == "ok"."""

    PENDING = "pending"  # never finished (the batch was cancelled); never in results
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"

    @classmethod
    def from_c(cls, value: int) -> "Status":
        return _STATUSES[value]


_STATUSES = [Status.PENDING, Status.OK, Status.PARTIAL, Status.FAILED, Status.SKIPPED]


class DocumentResult(NamedTuple):
    """One finished document: what Batch.results() yields. A named tuple:
    immutable, and made in one step (a dataclass's fields are set one by
    one, which dominated reading many results)."""

    id: str
    path: Optional[str]
    status: Status
    output: Optional[bytes]      # the last stage's output
    error: Optional[str]         # the processor's message (failed, or partial with one)
    attempts: int                # 1 + retries of this document, any stage
    failed_stage: Optional[int]  # index of the stage that failed, when failed
    duration_ms: float
    input_tokens: int
    output_tokens: int
    output_is_json: bool = False          # the output is JSON text (a dict or list was returned)
    units: int = 0                        # free-form units the processors reported
    cost_usd: float = 0.0                 # what the tokens cost at the stages' prices
    failed_stage_label: Optional[str] = None  # label of the stage that failed, when failed
    metadata: Optional[Dict[str, Any]] = None  # the document's metadata, when it has some
    duplicate_of: Optional[str] = None    # id of the document whose result was reused (dedupe)

    @property
    def text(self) -> str:
        """The output decoded as UTF-8 ("" when there is none)."""
        return (self.output or b"").decode("utf-8")

    def json(self) -> Any:
        """The output parsed as JSON."""
        if self.output is None:
            raise ValueError(f"document '{self.id}' has no output")
        text = self.output.decode("utf-8")  # str: json skips guessing the encoding
        try:  # most outputs are compact JSON: scanned at once, without loads()'s whitespace scans
            value, end = _scan(text, 0)
            if end == len(text):
                return value
        except StopIteration:
            pass
        return json.loads(text)  # around whitespace, or the error

    @classmethod
    def from_c(cls, raw: Any, values: Tuple[Any, ...]) -> "DocumentResult":
        """The result in the bc_result `raw`, whose fields `values` holds as
        _capi.RESULT_FIELDS reads them (strings as addresses: each non-NULL
        one is read from `raw`)."""
        (_, status, id_, path, output, output_len, error, attempts, failed_stage, duration_ms, input_tokens,
         output_tokens, output_is_json, _, units, cost_usd, label, metadata, duplicate) = values
        status = _STATUSES[status]
        return _new(cls, (
            raw.id.decode("utf-8", "surrogateescape") if id_ else "",
            raw.path.decode("utf-8", "surrogateescape") if path else None,
            status,
            raw.output[:output_len] if output else None,
            raw.error.decode("utf-8", "replace") if error else None,
            attempts,
            failed_stage if status is Status.FAILED else None,
            duration_ms,
            input_tokens,
            output_tokens,
            output_is_json != 0,
            units,
            cost_usd,
            raw.failed_stage_label.decode("utf-8", "replace") if label else None,
            json.loads(raw.metadata_json) if metadata else None,
            raw.duplicate_of.decode("utf-8", "surrogateescape") if duplicate else None))


_new = tuple.__new__  # the fields in order, without NamedTuple's argument parsing
_scan = json.JSONDecoder().scan_once
