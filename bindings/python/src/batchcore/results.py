"""A document's final result."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ._enum import StrEnum


_DECODER = json.JSONDecoder()


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


@dataclass(frozen=True)
class DocumentResult:
    """One finished document: what Batch.results() yields."""

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
        try:  # most outputs are compact JSON: parsed without loads()'s two whitespace scans
            value, end = _DECODER.raw_decode(text)
            if end == len(text):
                return value
        except json.JSONDecodeError:
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
        result = _new(cls)
        # Filled through __dict__: a frozen dataclass's __init__ sets each
        # field with object.__setattr__, which dominates reading many results.
        result.__dict__.update({
            "id": raw.id.decode("utf-8", "surrogateescape") if id_ else "",
            "path": raw.path.decode("utf-8", "surrogateescape") if path else None,
            "status": status,
            "output": raw.output[:output_len] if output else None,
            "error": raw.error.decode("utf-8", "replace") if error else None,
            "attempts": attempts,
            "failed_stage": failed_stage if status is Status.FAILED else None,
            "duration_ms": duration_ms,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "output_is_json": bool(output_is_json),
            "units": units,
            "cost_usd": cost_usd,
            "failed_stage_label": raw.failed_stage_label.decode("utf-8", "replace") if label else None,
            "metadata": json.loads(raw.metadata_json) if metadata else None,
            "duplicate_of": raw.duplicate_of.decode("utf-8", "surrogateescape") if duplicate else None})
        return result


_new = object.__new__
