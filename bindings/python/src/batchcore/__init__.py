"""batchcore: run large batches of documents through processors, in parallel.

Python bindings over ctypes for libbatchcore (see docs/python.md)::

    import batchcore

    @batchcore.processor
    def shout(doc):
        return doc.text().upper()

    with batchcore.Engine() as engine, engine.batch(shout, workers=8) as batch:
        batch.add_dir("samples", glob="*.txt")
        print(batch.run())
        for result in batch.results():
            print(result.id, result.status, result.text[:40])
"""
from __future__ import annotations

from typing import Any, List

from ._capi import lib as _lib
from .batch import Batch
from .distributed import Worker, collect, status, submit
from .doc import Doc
from .engine import Engine
from .errors import (
    AbiError,
    BatchcoreError,
    BatchIOError,
    InputError,
    InvalidArgumentError,
    LibraryError,
    NotFoundError,
    OptionError,
    PluginError,
    StateError,
    WaitTimeout,
)
from .events import Event, EventKind
from .options import OptionInfo
from .options import describe as _describe_options
from .outcome import Result, Retry
from .processors import Processor, processor
from .results import DocumentResult, Status
from .stage import Stage
from .stats import BatchState, Stats


def library_version() -> str:
    """The loaded libbatchcore's version, "MAJOR.MINOR.PATCH"."""
    return str(_lib().bc_version_string().decode("ascii"))


def __getattr__(name: str) -> Any:
    # __version__ is the library's, read when first asked for (PEP 562): the
    # package takes its version from the engine it drives.
    if name == "__version__":
        return library_version()
    raise AttributeError(f"module 'batchcore' has no attribute {name!r}")


def library_path() -> str:
    """Where the loaded libbatchcore was found (see docs/python.md, "How the library is found")."""
    return str(_lib().path)


def options() -> List[OptionInfo]:
    """The batch option registry: key, Python keyword, default and help of each option."""
    return _describe_options()


__all__ = [
    "AbiError", "Batch", "BatchIOError", "BatchState", "BatchcoreError", "Doc", "DocumentResult",
    "Engine", "Event", "EventKind", "InputError", "InvalidArgumentError", "LibraryError",
    "NotFoundError", "OptionError", "OptionInfo", "PluginError", "Processor", "Result", "Retry",
    "Stage", "StateError", "Stats", "Status", "WaitTimeout", "library_path",
    "library_version", "options", "processor", "Worker", "collect", "status", "submit",
]
