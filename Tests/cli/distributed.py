"""Helpers for the distributed-batch tests: submit, workers, status, collect."""
import json
import os
import signal
import subprocess

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
    """A `batchhost worker` process; stop() sends SIGTERM and checks it exits 0."""

    def __init__(self, url, *args, log=None):
        env = dict(os.environ)
        env.pop("BATCHCORE_PLUGIN_PATH", None)
        self.log = open(log, "w") if log else subprocess.DEVNULL
        self.process = subprocess.Popen([str(BATCHHOST), "worker", "--redis", url, *map(str, args)],
                                        stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        STARTED.append(self)

    def stop(self, timeout=60):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        if self.log is not subprocess.DEVNULL:
            self.log.close()
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
