"""Token and unit counts: whole numbers from 0 to 2**64 - 1.

The engine adds them up saturating at 2**63 - 1 (INT64_MAX) instead of
wrapping; a negative count is a mistake, never a refund.
"""
from __future__ import annotations

from typing import Any

_MAX = 2**64 - 1


def count(name: str, value: Any) -> int:
    """`value` as a count; ValueError (TypeError for a non-integer) naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _MAX:
        raise ValueError(f"{name} must be between 0 and 2**64 - 1, not {value}")
    return value
