"""Helpers for the distributed-batch tests: submit, workers, status, collect."""
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BATCHHOST, run, wait_for

STARTED = []


@pytest.fixture(autouse=True)
def kill_leftover_workers():
    """A test that fails midway leaves no worker running."""
    yield
    while STARTED:
        worker = STARTED.pop()
        if worker.process.poll() is None:
            worker.kill()


def make_docs(directory, count):
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"d{i:05}.txt").write_text(f"document {i}\n")
    return directory


def submit(url, *args):
    result = run("submit", "--redis", url, "-q", *args)
    assert result.code == 0, result
    return result.out.strip()


class Worker:
    """A `batchhost worker` process; stop() sends SIGTERM and checks it exits 0.

    Returns once the worker says it is serving (or has exited): a SIGTERM
    sent before it watches for signals would kill it, as it would any
    program, instead of stopping it."""

    def __init__(self, url, *args, log=None):
        env = dict(os.environ)
        env.pop("BATCHCORE_PLUGIN_PATH", None)
        self.own_log = log is None
        if self.own_log:
            fd, log = tempfile.mkstemp(prefix="batchcore-worker-", suffix=".log")
            os.close(fd)
        self.log_path = log
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(BATCHHOST), "worker", "--redis", url, *map(str, args)],
                                        stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        STARTED.append(self)
        wait_for(lambda: self.process.poll() is not None or " serving " in Path(self.log_path).read_text(),
                 "the worker to start serving")

    def stop(self, timeout=60):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.log.close()
        if self.own_log:
            os.unlink(self.log_path)
        return code

    def kill(self):
        self.process.kill()
        self.process.wait(timeout=30)


def status(url, batch):
    result = run("status", "--redis", url, batch, "--json")
    assert result.code == 0, result
    return json.loads(result.out)


def committed(summary):
    return summary["ok"] + summary["partial"] + summary["failed"] + summary["skipped"]


def wait_finished(url, batch, timeout=180):
    return wait_for(lambda: (s := status(url, batch))["state"] == "finished" and s, f"batch {batch} to finish", timeout)


def collect(url, batch, path, *args):
    result = run("collect", "--redis", url, batch, "-o", path, *args)
    assert result.code == 0, result
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_each_once(records, ids):
    seen = [r["id"] for r in records]
    assert len(seen) == len(set(seen)), "an id was collected twice"
    assert set(seen) == set(ids)
