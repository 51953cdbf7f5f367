"""Finding and loading libbatchcore.

Places are tried in this order; the first that loads wins:

1. ``$BATCHCORE_LIBRARY`` — a path to the library file (or to the directory
   holding it). When set, it is the only place tried: an explicit choice must
   not silently fall back to another copy.
2. The package's own directory, where a wheel or a packager puts the library
   (with its bundled plugins beside it, where the engine looks for them).
3. A checkout's ``.build/release/``: the checkout recorded when the package
   was built from it (``pip install ./bindings/python``), then the checkout
   around the package's source (an editable install, or ``PYTHONPATH``),
   then the checkout around the current directory.
4. The system's dynamic linker path (``ldconfig``, ``LD_LIBRARY_PATH``),
   where ``make install`` puts it.

When nothing loads, :class:`LibraryError` lists every place and why it failed.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from ._version import LIBRARY_MAJOR, LIBRARY_MINIMUM
from .errors import LibraryError

LIBRARY_FILE = "libbatchcore.dylib" if sys.platform == "darwin" else "libbatchcore.so"
ENVIRONMENT_VARIABLE = "BATCHCORE_LIBRARY"

_lock = threading.Lock()
_loaded: Optional[Tuple[ctypes.CDLL, str]] = None


def load() -> Tuple[ctypes.CDLL, str]:
    """The loaded library and where it was found; loads it on first use."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _find_and_load()
        return _loaded


def _find_and_load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    for origin, location in candidates():
        if os.sep in location and not os.path.exists(location):
            tried.append(f"{location} ({origin}): no such file")
            continue
        try:
            library = ctypes.CDLL(location)
        except OSError as error:
            tried.append(f"{location} ({origin}): {error}")
            continue
        _check_version(library, location)
        return library, location
    raise LibraryError(
        "cannot find libbatchcore; looked in:\n  " + "\n  ".join(tried) +
        f"\nBuild it with `swift build -c release` in the checkout, or set ${ENVIRONMENT_VARIABLE} "
        f"to the path of {LIBRARY_FILE}.")


def candidates() -> Iterator[Tuple[str, str]]:
    """(origin, location) pairs in search order, as described in the module docstring."""
    explicit = os.environ.get(ENVIRONMENT_VARIABLE)
    if explicit:
        path = Path(explicit)
        yield f"${ENVIRONMENT_VARIABLE}", str(path / LIBRARY_FILE if path.is_dir() else path)
        return
    package_dir = Path(__file__).resolve().parent
    yield "the package's directory", str(package_dir / LIBRARY_FILE)
    seen = set()
    for origin, checkout in _checkouts(package_dir):
        if checkout not in seen:
            seen.add(checkout)
            yield origin, str(checkout / ".build" / "release" / LIBRARY_FILE)
    yield "the system's library path", LIBRARY_FILE


def _checkouts(package_dir: Path) -> Iterator[Tuple[str, Path]]:
    recorded = _recorded_checkout()
    if recorded is not None:
        yield "the checkout the package was built from", recorded
    for origin, start in (("the checkout around the package", package_dir),
                          ("the checkout around the current directory", Path.cwd())):
        found = find_checkout(start)
        if found is not None:
            yield origin, found


def _recorded_checkout() -> Optional[Path]:
    try:  # written by setup.py at build time; absent in a source tree
        checkout = importlib.import_module(f"{__package__}._build_info").CHECKOUT
    except ImportError:
        return None
    return Path(checkout) if checkout else None


def find_checkout(start: Path) -> Optional[Path]:
    """The nearest ancestor of `start` holding the engine's sources, or None."""
    for directory in [start, *start.parents]:
        if (directory / "Package.swift").is_file() and (directory / "include" / "batchcore.h").is_file():
            return directory
    return None


def _check_version(library: ctypes.CDLL, location: str) -> None:
    try:
        number_fn = library.bc_version_number
    except AttributeError:
        raise LibraryError(f"{location} is not libbatchcore: it has no bc_version_number") from None
    number_fn.restype = ctypes.c_int
    number_fn.argtypes = []
    number = number_fn()
    found = f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    if number // 10000 != LIBRARY_MAJOR or number < LIBRARY_MINIMUM:
        minimum = f"{LIBRARY_MINIMUM // 10000}.{LIBRARY_MINIMUM // 100 % 100}.{LIBRARY_MINIMUM % 100}"
        raise LibraryError(
            f"{location} is libbatchcore {found}, but the batchcore Python package "
            f"needs {LIBRARY_MAJOR}.x from {minimum} on; install matching versions of both")
