"""Exceptions: one class per negative BC_E* code of the C API.

Every failing C call raises the class of its code with the library's own
message (bc_error_message()), which names what was wrong and what to do.
"""
from __future__ import annotations

from typing import Dict, Type

# The codes of include/batchcore.h.
BC_ERROR = -1
BC_EINVAL = -2
BC_EOPTION = -3
BC_ENOTFOUND = -4
BC_EPLUGIN = -5
BC_EABI = -6
BC_EINPUT = -7
BC_ESTATE = -8
BC_ETIMEOUT = -9
BC_EIO = -10


class BatchcoreError(Exception):
    """Base class of every batchcore error. `code` is the C API's BC_E* value."""

    code: int = BC_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(BatchcoreError, ValueError):
    """BC_EINVAL: an argument the library cannot accept (e.g. a processor name already taken)."""

    code = BC_EINVAL


class OptionError(BatchcoreError, ValueError):
    """BC_EOPTION: an unknown option key or an invalid value; the message names key, value and what was expected."""

    code = BC_EOPTION


class NotFoundError(BatchcoreError, LookupError):
    """BC_ENOTFOUND: a file, directory, processor or stage that does not exist."""

    code = BC_ENOTFOUND


class PluginError(BatchcoreError):
    """BC_EPLUGIN: a plugin could not be loaded or refused to start."""

    code = BC_EPLUGIN


class AbiError(PluginError):
    """BC_EABI: a plugin built for another ABI version."""

    code = BC_EABI


class InputError(BatchcoreError, ValueError):
    """BC_EINPUT: malformed input, such as a manifest line or metadata that is not a JSON object."""

    code = BC_EINPUT


class StateError(BatchcoreError):
    """BC_ESTATE: not allowed now, e.g. configuring a batch that already started, or using a closed handle."""

    code = BC_ESTATE


class WaitTimeout(BatchcoreError, TimeoutError):
    """BC_ETIMEOUT: Batch.wait ran out of time; the batch still runs."""

    code = BC_ETIMEOUT


class BatchIOError(BatchcoreError, OSError):
    """BC_EIO: a read or write failed (the output file, ...)."""

    code = BC_EIO


class LibraryError(BatchcoreError, ImportError):
    """libbatchcore could not be found or loaded, or is a version these bindings cannot drive."""


_BY_CODE: Dict[int, Type[BatchcoreError]] = {
    cls.code: cls
    for cls in (InvalidArgumentError, OptionError, NotFoundError, PluginError, AbiError,
                InputError, StateError, WaitTimeout, BatchIOError)
}


def error_for(code: int, message: str) -> BatchcoreError:
    """The exception for a negative code returned by the C API."""
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    error = BatchcoreError(message)
    error.code = code
    return error
