"""Fixtures for the batchhost CLI tests: they run the built binary."""
import json
import os
import subprocess
import threading
import time
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


def wait_for(condition, what, timeout=60):
    """Waits until condition() gives a true value, and returns it; fails the
    test after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.01)
    return value


class LineReader:
    """Reads a process's text pipe on a thread, so a test can wait for a line."""

    def __init__(self, pipe):
        self._lines = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe):
        for line in pipe:
            with self._lock:
                self._lines.append(line)

    def wait_for(self, text, timeout=60):
        wait_for(lambda: text in self.text(wait=False), f"{text!r} on the process's output", timeout)

    def text(self, wait=True):
        """What was read; with wait, all of it (the pipe must be closing)."""
        if wait:
            self._thread.join(timeout=60)
        with self._lock:
            return "".join(self._lines)


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
