"""A thread-mode processor's prepare() value as the bytes the journal keeps.

The engine keeps prepare()'s bytes in the journal so that a resumed batch
hands them back instead of preparing again. A one-byte tag says which type
they were, so the same type comes back: bytes, str, or a JSON value.
Anything else (a client object, say) cannot outlive the process and is
refused with what to do instead.
"""
from __future__ import annotations

import json
from typing import Any, Callable

_BYTES, _STR, _JSON = b"B", b"S", b"J"


def encode(value: Any, prepare: Callable[[], Any]) -> bytes:
    """`value`, which `prepare` returned, as tagged bytes; TypeError for a type the journal cannot keep."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _BYTES + bytes(value)
    if isinstance(value, str):
        return _STR + value.encode("utf-8", "surrogatepass")
    try:
        return _JSON + json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        name = getattr(prepare, "__qualname__", repr(prepare))
        raise TypeError(f"prepare function {name!r} returned a value of type {type(value).__name__!r}, which the journal cannot keep "
                        "for a resume: return bytes, str or a JSON value (dict, list, number, bool, None) and "
                        "create the object (a client, a model) from it in the processor") from None


def decode(data: bytes) -> Any:
    """The value `encode` made `data` from."""
    tag, body = data[:1], data[1:]
    if tag == _BYTES:
        return body
    if tag == _STR:
        return body.decode("utf-8", "surrogatepass")
    if tag == _JSON:
        return json.loads(body)
    raise ValueError("the journal's prepared value for this stage was not written by a Python prepare(); "
                     "set the stage option prepare_again=true to prepare anew")
