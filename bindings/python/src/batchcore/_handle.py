"""What Engine and Batch share as owners of a C handle."""
from __future__ import annotations

from typing import Any, Optional, TypeVar

from .errors import StateError

_Owner = TypeVar("_Owner", bound="OwnedHandle")


class OwnedHandle:
    """Holds a C handle until close(); usable in a with statement."""

    _handle: Optional[int]
    _kind = "handle"  # named in the error raised after close()

    def close(self) -> None:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self: _Owner) -> _Owner:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _live(self) -> int:
        handle = self._handle
        if handle is None:
            raise StateError(f"the {self._kind} is closed")
        return handle
