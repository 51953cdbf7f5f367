"""One version: include/batchcore_version.h, the library, batchhost and the package agree."""
from __future__ import annotations

import importlib.metadata
import re
import subprocess
from pathlib import Path

from conftest import ROOT, batchcore


def header_version() -> str:
    header = (ROOT / "include" / "batchcore_version.h").read_text()
    return ".".join(re.search(rf"#define BC_VERSION_{part} (\d+)", header).group(1)
                    for part in ("MAJOR", "MINOR", "PATCH"))


def test_header_library_batchhost_and_package_agree():
    version = header_version()
    assert batchcore.library_version() == version
    assert batchcore.__version__ == version
    assert importlib.metadata.version("batchcore") == version  # read from the header when installed
    batchhost = Path(batchcore.library_path()).parent / "batchhost"
    shown = subprocess.run([str(batchhost), "--version"], check=True, capture_output=True, text=True).stdout
    assert shown.strip() == f"batchhost {version}"
