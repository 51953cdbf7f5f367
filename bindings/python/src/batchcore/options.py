"""Keyword arguments ↔ the engine's option registry.

The registry (bc_options_describe) is the only list of batch options: a
keyword names a registry key with dots spelled as underscores
(retry_attempts → retry.attempts). Keywords that name no key are passed on
unchanged, so the engine's own error — naming the key, the value and what
was expected — reaches the caller as OptionError.
"""
from __future__ import annotations

import ctypes
import datetime
import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ._capi import lib


@dataclass(frozen=True)
class OptionInfo:
    """One batch option of the registry."""

    key: str      # as the engine, the CLI (-O KEY=VALUE) and config files spell it
    keyword: str  # as a Python keyword argument
    default: str
    help: str


_lock = threading.Lock()
_registry: Optional[List[OptionInfo]] = None


def describe() -> List[OptionInfo]:
    """Every batch option the loaded library knows, in its order."""
    global _registry
    with _lock:
        if _registry is None:
            library = lib()
            out = ctypes.c_void_p()
            library.bc_options_describe(ctypes.byref(out))
            entries = json.loads(library.take_string(out.value))
            _registry = [OptionInfo(key=e["key"], keyword=e["key"].replace(".", "_"),
                                    default=e["default"], help=e["help"]) for e in entries]
        return list(_registry)


def registry_key(keyword: str) -> str:
    """The registry key for a keyword argument; unknown keywords unchanged."""
    for option in describe():
        if option.keyword == keyword:
            return option.key
    return keyword


def option_value(value: Any) -> str:
    """A Python value as the option string the engine parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.timedelta):
        return f"{value.total_seconds()}s"
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    return str(value)


def keyword_options(options: Dict[str, Any]) -> Dict[str, str]:
    """Keyword arguments as {registry key: value string}; None means "leave the default"."""
    return {registry_key(k): option_value(v) for k, v in options.items() if v is not None}

