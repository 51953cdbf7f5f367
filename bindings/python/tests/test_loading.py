"""Where the package finds libbatchcore, and what it says when it cannot."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PACKAGE_PARENT, ROOT, batchcore, compile_c

REPORT = "import batchcore; print(batchcore.library_path()); print(batchcore.library_version())"


def run_python(code: str, cwd: Path, package_parent: Path, **env_extra: str) -> subprocess.CompletedProcess:
    """Runs `code` with the package from `package_parent` and no BATCHCORE_* or LD_LIBRARY_PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHCORE_") and k != "LD_LIBRARY_PATH"}
    env["PYTHONPATH"] = str(package_parent)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The package's sources copied outside the checkout, as site-packages would hold them."""
    parent = tmp_path / "site-packages"
    shutil.copytree(PACKAGE_PARENT / "batchcore", parent / "batchcore",
                    ignore=shutil.ignore_patterns("__pycache__", "_build_info.py", "*.so"))
    return parent


def test_in_a_checkout_the_build_directory_is_found_with_no_environment(package_copy):
    proc = run_python(REPORT, cwd=ROOT / "samples", package_parent=package_copy)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == str(ROOT / ".build" / "release" / "libbatchcore.so")


def test_the_packages_own_directory_comes_before_the_checkout(package_copy):
    library = Path(batchcore.library_path())
    os.symlink(library, package_copy / "batchcore" / library.name)
    proc = run_python(REPORT, cwd=ROOT, package_parent=package_copy)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == str(package_copy / "batchcore" / library.name)


def test_batchcore_library_wins_and_may_name_a_directory(package_copy, tmp_path):
    build = Path(batchcore.library_path()).parent
    proc = run_python(REPORT, cwd=tmp_path, package_parent=package_copy, BATCHCORE_LIBRARY=str(build))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == str(build / "libbatchcore.so")


def test_nothing_found_lists_every_place_looked(package_copy, tmp_path):
    code = "import batchcore\ntry:\n    batchcore.Engine()\nexcept batchcore.LibraryError as e:\n    print(e)"
    proc = run_python(code, cwd=tmp_path, package_parent=package_copy)
    assert proc.returncode == 0, proc.stderr  # importing works; using the engine raises
    message = proc.stdout
    assert message.startswith("cannot find libbatchcore; looked in:")
    assert f"{package_copy / 'batchcore' / 'libbatchcore.so'} (the package's directory): no such file" in message
    assert "libbatchcore.so (the system's library path): libbatchcore.so: cannot open shared object file" in message
    assert "swift build -c release" in message and "$BATCHCORE_LIBRARY" in message


def test_an_explicit_library_that_is_missing_is_not_replaced_by_another(package_copy, tmp_path):
    code = "import batchcore\ntry:\n    batchcore.library_path()\nexcept batchcore.LibraryError as e:\n    print(e)"
    proc = run_python(code, cwd=ROOT, package_parent=package_copy, BATCHCORE_LIBRARY=str(tmp_path / "nope.so"))
    assert f"{tmp_path / 'nope.so'} ($BATCHCORE_LIBRARY): no such file" in proc.stdout
    assert ".build/release" not in proc.stdout


def test_a_library_of_another_major_version_is_refused(package_copy, tmp_path):
    source = tmp_path / "future.c"
    source.write_text("int bc_version_number(void) { return 10203; }\n")
    future = compile_c(source, tmp_path / "libbatchcore.so")
    code = "import batchcore\ntry:\n    batchcore.library_path()\nexcept batchcore.LibraryError as e:\n    print(e)"
    proc = run_python(code, cwd=tmp_path, package_parent=package_copy, BATCHCORE_LIBRARY=str(future))
    assert f"{future} is libbatchcore 1.2.3, but the batchcore Python package" in proc.stdout
    assert "needs 0.x from 0.2.0 on" in proc.stdout


def test_a_library_that_is_not_libbatchcore_is_refused(package_copy, tmp_path):
    source = tmp_path / "other.c"
    source.write_text("int something_else(void) { return 0; }\n")
    other = compile_c(source, tmp_path / "other.so")
    code = "import batchcore\ntry:\n    batchcore.library_path()\nexcept batchcore.LibraryError as e:\n    print(e)"
    proc = run_python(code, cwd=tmp_path, package_parent=package_copy, BATCHCORE_LIBRARY=str(other))
    assert f"{other} is not libbatchcore: it has no bc_version_number" in proc.stdout
