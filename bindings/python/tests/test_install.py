"""pip installs the package from the checkout into a fresh venv, where it finds the built library by itself."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import ROOT

TINY_BATCH = textwrap.dedent("""
    import batchcore, json, pathlib

    @batchcore.processor
    def words(doc):
        return {"words": json.loads(doc.input)["words"]}

    with batchcore.Engine() as engine, engine.batch(stages=["text", words], workers=2) as batch:
        batch.add_dir(pathlib.Path(batchcore.library_path()).parents[2] / "samples", glob="*.txt")
        stats = batch.run()
        total = sum(r.json()["words"] for r in batch.results())
    print(batchcore.library_path())
    print(stats.ok, stats.failed, total > 0)
    print(pathlib.Path(batchcore.__file__).parent.joinpath("py.typed").is_file())
""")


def test_pip_install_into_a_fresh_venv_then_import_and_run(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BATCHCORE_", "PYTHON", "VIRTUAL_ENV")) and k != "LD_LIBRARY_PATH"}

    # Build with the venv's own setuptools when it can make wheels (no
    # network); otherwise pip fetches the build requirements itself.
    can_build_offline = subprocess.run(
        [python, "-c", "import setuptools, importlib.util as u, sys; "
                       "sys.exit(not (u.find_spec('wheel') or u.find_spec('setuptools.command.bdist_wheel')))"],
        env=env, capture_output=True).returncode == 0
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check"]
    if can_build_offline:
        install.append("--no-build-isolation")
    proc = subprocess.run([*install, str(ROOT / "bindings" / "python")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    proc = subprocess.run([python, "-c", TINY_BATCH], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    library, counts, typed = proc.stdout.splitlines()
    assert library == str(ROOT / ".build" / "release" / "libbatchcore.so")
    sample_count = len(list((ROOT / "samples").rglob("*.txt")))
    assert counts == f"{sample_count} 0 True"
    assert typed == "True"
