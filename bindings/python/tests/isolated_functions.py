"""Processors for the isolation="process" tests: worker processes import
them by module and qualified name, so they live at the top level of a module."""
from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import batchcore


def whoami(doc):
    """Reports its process; with metadata {"meet": DIR, "count": N} first waits
    until N distinct processes called it (so N workers must be N processes)."""
    meet = doc.metadata.get("meet")
    if meet:
        Path(meet, str(os.getpid())).touch()
        deadline = time.monotonic() + 30
        while len(os.listdir(meet)) < doc.metadata["count"] and time.monotonic() < deadline:
            time.sleep(0.01)
    doc.add_usage(input_tokens=2, output_tokens=3)
    return {"pid": os.getpid(), "id": doc.id, "text": doc.text()}


@batchcore.processor
def crash_on_request(doc):
    """Segfaults (a bad pointer through ctypes) on documents whose id starts with crash."""
    if doc.id.startswith("crash"):
        ctypes.string_at(0)
    return str(os.getpid())


def sleep_on_request(doc):
    if doc.id.startswith("slow"):
        time.sleep(60)
    return "quick"


def grow_on_request(doc):
    if doc.id.startswith("grow"):
        return str(len(bytearray(1 << 34)))
    return "small"


def research():
    """A prepare function: notes each run in $BATCHCORE_TEST_PREPARE_LOG."""
    with open(os.environ["BATCHCORE_TEST_PREPARE_LOG"], "a") as log:
        log.write(f"{os.getpid()}\n")
    return {"target": "ACME", "pid": os.getpid()}


def adjust(doc):
    return f"{doc.text()} for {doc.shared['target']}"


def retry_then_json(doc):
    if doc.attempt == 1:
        raise batchcore.Retry("first try", after=0.01)
    doc.log(f"second try of {doc.id}")
    return batchcore.Result({"attempt": doc.attempt}, status="partial", error="half")
