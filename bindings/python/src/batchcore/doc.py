"""The document a Python processor receives."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

from ._capi import bc_doc, field_reader, lib
from ._counts import count
from .errors import BC_ESTATE, StateError

_FIELDS = field_reader(bc_doc)
_LOG_LEVELS = {"debug": 0, "info": 1, "warning": 2, "warn": 2, "error": 3}


class Doc:
    """One document in one stage, as a processor sees it.

    The values are copies and stay readable after the call; the methods that
    report to the engine (add_usage, log, cancelled) work only during it.
    """

    __slots__ = ("id", "path", "input", "content", "shared", "stage", "attempt", "_metadata_json", "_metadata", "_call",
                 "_api")

    def __init__(self, call: int, raw: Any, shared: Any = None) -> None:
        # Every field at once, pointers as addresses: each read of a ctypes
        # field makes an object, so only the non-NULL strings are read so.
        _, stage, attempt, _, _, path, metadata, input, input_len, content, content_len = _FIELDS.unpack_from(raw)
        self.id: str = raw.id.decode("utf-8", "surrogateescape")
        self.path: Optional[str] = raw.path.decode("utf-8", "surrogateescape") if path else None
        # The previous stage's output; None in the first stage.
        self.input: Optional[bytes] = (raw.input[:input_len] if input else b"") if stage > 0 else None
        # The bytes of a document held in memory (Batch.add(content=...)); None for files.
        self.content: Optional[bytes] = raw.content[:content_len] if content else None
        # What the processor's prepare() returned for this batch stage; None without one.
        self.shared: Any = shared
        self.stage: int = stage          # 0-based index of this stage
        self.attempt: int = attempt      # 1 on the first try, 2 on the first retry, ...
        self._metadata_json: bytes = (raw.metadata_json or b"{}") if metadata else b"{}"
        self._metadata: Optional[Dict[str, Any]] = None
        self._call: Optional[int] = call
        # What the reporting methods call: the library, or a worker process's recorder.
        self._api: Any = None

    @classmethod
    def _in_worker(cls, api: Any, fields: Any, shared: Any) -> "Doc":
        """A document of a worker process (batchcore.worker): `fields` is its
        decoded frame, `api` records what the call reports (the bc_call_* calls)."""
        doc = cls.__new__(cls)
        doc.id, doc.path, doc.stage, doc.attempt = fields.id, fields.path, fields.stage, fields.attempt
        doc.input = fields.input if fields.stage > 0 else None
        doc.content, doc.shared = fields.content, shared
        doc._metadata_json, doc._metadata = fields.metadata.encode("utf-8") or b"{}", None
        doc._call, doc._api = 0, api
        return doc

    def _library(self) -> Any:
        return self._api or lib()

    @property
    def metadata(self) -> Dict[str, Any]:
        """The document's metadata (from a manifest or Batch.add), parsed; {} when none."""
        if self._metadata is None:
            self._metadata = json.loads(self._metadata_json)
        return self._metadata

    def read(self) -> bytes:
        """The previous stage's output, or in the first stage the document's content or file."""
        if self.input is not None:
            return self.input
        if self.content is not None:
            return self.content
        if self.path is None:
            raise ValueError(f"document '{self.id}' has no file and no input")
        with open(self.path, "rb") as file:
            return file.read()

    def text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """read(), decoded."""
        return self.read().decode(encoding, errors)

    def add_usage(self, input_tokens: int = 0, output_tokens: int = 0) -> None:
        """Adds token usage to this document (and the batch's totals).

        Counts are whole numbers from 0 (ValueError when negative); totals
        saturate at 2**63 - 1 instead of wrapping.
        """
        call = self._live_call("add_usage")
        rc = self._library().bc_call_add_usage(call, count("input_tokens", input_tokens), count("output_tokens", output_tokens))
        self._check(rc, "add_usage")

    def add_units(self, units: int) -> None:
        """Adds free-form units (pages, images, ...) to this document's usage; counted as add_usage."""
        self._check(self._library().bc_call_add_units(self._live_call("add_units"), count("units", units)), "add_units")

    def log(self, message: str, level: str = "info") -> None:
        """Logs a message about this document: a LOG event (or stderr from "warning" on, without a callback)."""
        if level not in _LOG_LEVELS:
            raise ValueError(f"log level {level!r} is not one of {', '.join(_LOG_LEVELS)}")
        self._library().bc_call_log(self._live_call("log"), _LOG_LEVELS[level], message.encode("utf-8"))

    @property
    def cancelled(self) -> bool:
        """True once the batch was cancelled hard or this call overran its timeout: a long call should stop (raise Retry)."""
        return bool(self._library().bc_call_is_cancelled(self._live_call("cancelled")))

    def _live_call(self, what: str) -> int:
        if self._call is None:
            raise StateError(f"Doc.{what} works only during the processor call that received the document")
        return self._call

    def _check(self, rc: int, what: str) -> None:
        # Another thread used the document just as its call ended.
        if rc == BC_ESTATE:
            self._call = None
            self._live_call(what)

    def _end_call(self) -> None:
        self._call = None

    def __repr__(self) -> str:
        return f"Doc(id={self.id!r}, path={self.path!r}, stage={self.stage}, attempt={self.attempt})"

