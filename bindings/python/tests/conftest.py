"""Fixtures for the Python binding tests: they drive the built libbatchcore."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable, List

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_SOURCE = ROOT / "bindings" / "python" / "src"
SAMPLES = ROOT / "samples"

try:
    import batchcore  # the installed package (make test-python installs it)
except ImportError:  # a plain checkout: test the sources
    sys.path.insert(0, str(PACKAGE_SOURCE))
    import batchcore

# Where the package under test was imported from (site-packages, or the sources).
PACKAGE_PARENT = Path(batchcore.__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def library() -> str:
    try:
        return batchcore.library_path()
    except batchcore.LibraryError as error:
        pytest.fail(f"{error}\n(run `swift build -c release` in {ROOT}; make test-python does)")


@pytest.fixture
def engine():
    with batchcore.Engine() as engine:
        yield engine


@pytest.fixture
def make_docs(tmp_path: Path) -> Callable[..., List[Path]]:
    """Writes `count` small text files, doc-00000.txt …, whose text is `text(i)`; returns their paths."""

    def make(count: int, text: Callable[[int], str] = lambda i: f"document {i}\n" + "word " * (i % 17)) -> List[Path]:
        directory = tmp_path / "docs"
        directory.mkdir(exist_ok=True)
        paths = []
        for i in range(count):
            path = directory / f"doc-{i:05d}.txt"
            path.write_text(text(i))
            paths.append(path)
        return paths

    return make


def compile_c(source: Path, target: Path, *extra: str) -> Path:
    """Builds a shared object the way a third party would: cc and the headers only."""
    subprocess.run(["cc", "-std=c99", "-shared", "-fPIC", f"-I{ROOT / 'include'}", str(source),
                    "-o", str(target), *extra], check=True)
    return target
