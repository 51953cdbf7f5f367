"""The worker protocol, Python side: frames between the engine and a
``python -m batchcore.worker`` child (docs/worker-protocol.md defines it;
Sources/BatchCore/Isolation/Frame.swift is the engine's side).

A frame is a 4-byte length (of what follows), a 1-byte kind, then the
kind's fields. Integers are in host byte order (both ends run on one
machine); strings and byte strings carry a 4-byte length; an optional value
is a 1-byte presence flag, then the value when the flag is 1.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, TypeVar

# Frame kinds: engine to worker ...
START = 1
PROCESS = 2
ESTIMATE = 3
# ... and worker to engine.
READY = 10
REFUSED = 11
LOG = 12
RESULT = 13
ESTIMATED = 14
DYING = 15

KINDS = {"start": START, "process": PROCESS, "estimate": ESTIMATE, "ready": READY, "refused": REFUSED,
         "log": LOG, "result": RESULT, "estimated": ESTIMATED, "dying": DYING}

MAX_FRAME_BYTES = (1 << 31) - 1

_U8, _U32, _I32, _U64 = struct.Struct("=B"), struct.Struct("=I"), struct.Struct("=i"), struct.Struct("=Q")

T = TypeVar("T")


class MalformedFrame(Exception):
    """A frame that does not hold what its kind promises."""


class Writer:
    """Builds one frame."""

    def __init__(self, kind: int) -> None:
        self._parts: List[bytes] = [b"\0\0\0\0", _U8.pack(kind)]

    def u8(self, value: int) -> "Writer":
        self._parts.append(_U8.pack(value))
        return self

    def bool(self, value: bool) -> "Writer":
        return self.u8(1 if value else 0)

    def u32(self, value: int) -> "Writer":
        self._parts.append(_U32.pack(value))
        return self

    def i32(self, value: int) -> "Writer":
        self._parts.append(_I32.pack(value))
        return self

    def u64(self, value: int) -> "Writer":
        self._parts.append(_U64.pack(value))
        return self

    def data(self, value: bytes) -> "Writer":
        self.u32(len(value))
        self._parts.append(bytes(value))
        return self

    def string(self, value: str) -> "Writer":
        return self.data(value.encode("utf-8", "surrogateescape"))

    def optional(self, value: Optional[T], write: Callable[["Writer", T], object]) -> "Writer":
        self.bool(value is not None)
        if value is not None:
            write(self, value)
        return self

    @property
    def frame(self) -> bytes:
        body = b"".join(self._parts[1:])
        return _U32.pack(len(body)) + body


class Reader:
    """Reads the fields of one frame (without its length and kind)."""

    def __init__(self, kind: int, payload: bytes) -> None:
        self.kind = kind
        self._payload = payload
        self._offset = 0

    def _take(self, count: int) -> bytes:
        if count < 0 or len(self._payload) - self._offset < count:
            raise MalformedFrame(f"frame of kind {self.kind} ends early")
        start = self._offset
        self._offset += count
        return self._payload[start:self._offset]

    def u8(self) -> int:
        return int(_U8.unpack(self._take(1))[0])

    def bool(self) -> bool:
        return self.u8() != 0

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self._take(8))[0])

    def data(self) -> bytes:
        return self._take(self.u32())

    def string(self) -> str:
        return self.data().decode("utf-8", "surrogateescape")

    def optional(self, read: Callable[["Reader"], T]) -> Optional[T]:
        return read(self) if self.bool() else None


class Buffer:
    """Splits a stream of bytes into frames."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def append(self, chunk: bytes) -> None:
        self._pending += chunk

    def next(self) -> Optional[Reader]:
        """The next whole frame, or None when more bytes are needed."""
        if len(self._pending) < 5:
            return None
        length = _U32.unpack_from(self._pending, 0)[0]
        if length < 1 or length > MAX_FRAME_BYTES or self._pending[4] not in KINDS.values():
            raise MalformedFrame(f"a frame of length {length} and kind {self._pending[4]}")
        if len(self._pending) < 4 + length:
            return None
        frame = Reader(self._pending[4], bytes(self._pending[5:4 + length]))
        del self._pending[:4 + length]
        return frame


# ---- Messages ---------------------------------------------------------------

@dataclass
class StartRequest:
    kind: str  # "python" for this worker
    path: str  # module:qualname
    label: str
    options: Dict[str, str]
    memory_limit: int  # RLIMIT_AS in bytes; 0 for none
    shared: Optional[bytes]  # prepare()'s bytes; None: run prepare here

    @classmethod
    def decode(cls, r: Reader) -> "StartRequest":
        kind, path, label = r.string(), r.string(), r.string()
        options = {}
        for _ in range(r.u32()):
            key = r.string()
            options[key] = r.string()
        return cls(kind, path, label, options, r.u64(), r.optional(Reader.data))

    def encode(self) -> bytes:
        w = Writer(START).string(self.kind).string(self.path).string(self.label).u32(len(self.options))
        for key in sorted(self.options):
            w.string(key).string(self.options[key])
        return w.u64(self.memory_limit).optional(self.shared, Writer.data).frame


@dataclass
class DocumentFrame:
    """A document of a process or estimate frame."""

    id: str
    path: Optional[str]
    metadata: str
    stage: int
    attempt: int
    input: Optional[bytes]
    content: Optional[bytes]

    @classmethod
    def decode(cls, r: Reader) -> "DocumentFrame":
        return cls(r.string(), r.optional(Reader.string), r.string(), r.u32(), r.u32(),
                   r.optional(Reader.data), r.optional(Reader.data))

    def encode(self, kind: int) -> bytes:
        return (Writer(kind).string(self.id).optional(self.path, Writer.string).string(self.metadata)
                .u32(self.stage).u32(self.attempt).optional(self.input, Writer.data)
                .optional(self.content, Writer.data).frame)


@dataclass
class ResultFrame:
    """Everything one call reported, and its outcome (BC_OUTCOME_*)."""

    outcome: int = 0
    output: Optional[bytes] = None
    output_is_json: bool = False
    error: Optional[str] = None
    input_tokens: int = 0
    output_tokens: int = 0
    units: int = 0
    retry_after_ms: Optional[int] = None

    def encode(self) -> bytes:
        return (Writer(RESULT).i32(self.outcome).optional(self.output, Writer.data).bool(self.output_is_json)
                .optional(self.error, Writer.string).u64(self.input_tokens).u64(self.output_tokens)
                .u64(self.units).optional(self.retry_after_ms, Writer.u64).frame)

    @classmethod
    def decode(cls, r: Reader) -> "ResultFrame":
        return cls(r.i32(), r.optional(Reader.data), r.bool(), r.optional(Reader.string),
                   r.u64(), r.u64(), r.u64(), r.optional(Reader.u64))


def ready(prices: Optional[Tuple[float, float]], prepared: Optional[bytes]) -> bytes:
    """READY: the list price (USD per million input, output tokens) and the bytes prepare() made."""
    def write_prices(w: Writer, p: Tuple[float, float]) -> None:
        w.u64(struct.unpack("=Q", struct.pack("=d", p[0]))[0]).u64(struct.unpack("=Q", struct.pack("=d", p[1]))[0])
    return Writer(READY).optional(prices, write_prices).optional(prepared, Writer.data).frame


def refused(message: str) -> bytes:
    return Writer(REFUSED).string(message).frame


def log(level: int, message: str) -> bytes:
    return Writer(LOG).i32(level).string(message).frame


def estimated(estimate: Optional[Tuple[int, int]]) -> bytes:
    return Writer(ESTIMATED).optional(estimate, lambda w, e: w.u64(e[0]).u64(e[1])).frame


def dying(signal: int, errno: int, address_space: int) -> bytes:
    return Writer(DYING).i32(signal).i32(errno).u64(address_space).frame
