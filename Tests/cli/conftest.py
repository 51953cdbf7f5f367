"""Fixtures for the batchhost CLI tests: they run the built binary."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BATCHCORE_BUILD", ROOT / ".build" / "release"))
BATCHHOST = BUILD / "batchhost"


@pytest.fixture(scope="session", autouse=True)
def built():
    if not BATCHHOST.exists():
        pytest.fail(f"{BATCHHOST} is missing: run `swift build -c release` (make test does)")


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    @property
    def records(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self):
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def run(*args, cwd=None, stdin=None, env=None, timeout=120):
    """Runs batchhost with args; returns exit code, stdout and stderr."""
    full_env = dict(os.environ)
    full_env.pop("BATCHCORE_PLUGIN_PATH", None)
    full_env.update(env or {})
    proc = subprocess.run([str(BATCHHOST), *map(str, args)], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=full_env, timeout=timeout)
    return Result(proc)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def compile_plugin(source, target, *extra):
    """Builds a plugin the way a third party would: cc and the header only."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{ROOT / 'include'}", str(source), "-o", str(target), *extra], check=True)
    return target


@pytest.fixture
def docs(tmp_path):
    """A directory of 20 small text files."""
    d = tmp_path / "docs"
    d.mkdir()
    for i in range(20):
        (d / f"doc-{i:02d}.txt").write_text(f"document {i}\n" + "word " * i + "\n")
    return d


@pytest.fixture(scope="session")
def counting(tmp_path_factory):
    """The counting test plugin (plugins/counting.c), built with cc and the plugin header only."""
    path = tmp_path_factory.mktemp("plugins") / "counting.so"
    return compile_plugin(ROOT / "Tests" / "cli" / "plugins" / "counting.c", path)
