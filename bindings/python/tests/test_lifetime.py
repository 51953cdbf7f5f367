"""Handles are freed deterministically, once, and nothing leaks over many cycles."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import weakref

import pytest
from batchcore import _threadstate
from batchcore import processors as processor_module
from conftest import PACKAGE_PARENT, batchcore


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_cycle(path) -> None:
    with batchcore.Engine() as engine:
        @batchcore.processor
        def echo(doc):
            return doc.id

        with engine.batch(stages=[echo, "text"], workers=2) as batch:
            batch.add(path, metadata={"n": 1})
            batch.run(progress=lambda event: None)
            assert [r.status for r in batch.results()] == ["ok"]


def test_a_thousand_engine_and_batch_cycles_leak_no_handles(make_docs):
    path = make_docs(1)[0]
    for _ in range(50):  # let allocators and caches reach their steady state
        one_cycle(path)
    gc.collect()
    fds, tasks, rss = open_fds(), threads(), rss_bytes()
    registrations = len(processor_module._registrations)

    for _ in range(1000):
        one_cycle(path)
    gc.collect()

    assert open_fds() == fds
    assert threads() <= tasks  # worker and event threads end with their engine and batch
    assert len(processor_module._registrations) == registrations == 0  # release() ran for each
    assert _threadstate.kept_count() <= 8  # thread states of exited engine threads were deleted
    growth = rss_bytes() - rss
    assert growth < 8 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 1,000 cycles"


def test_close_is_idempotent_and_later_use_is_a_state_error():
    engine = batchcore.Engine()
    batch = engine.batch("text")
    batch.close()
    batch.close()
    engine.close()
    engine.close()
    assert batch.closed and engine.closed
    with pytest.raises(batchcore.StateError, match="the batch is closed"):
        batch.add("x")
    with pytest.raises(batchcore.StateError, match="the engine is closed"):
        engine.batch("text")


def test_a_batch_outlives_its_closed_engine(make_docs):
    paths = make_docs(10)
    engine = batchcore.Engine()
    batch = engine.batch(lambda doc: doc.id)
    engine.close()
    batch.add_dir(paths[0].parent)
    assert batch.run().ok == 10
    batch.close()


def test_processors_are_released_when_their_engine_is_gone():
    engine = batchcore.Engine()
    engine.register(batchcore.processor(name="one")(lambda doc: ""))
    batch = engine.batch("one")
    assert len(processor_module._registrations) == 1
    engine.close()
    assert len(processor_module._registrations) == 1  # the batch still needs the engine
    batch.close()
    assert len(processor_module._registrations) == 0


def test_forgotten_handles_are_freed_by_the_garbage_collector_and_at_exit(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(PACKAGE_PARENT)!r})
        import batchcore, time

        def forget():
            engine = batchcore.Engine()
            batch = engine.batch(lambda doc: time.sleep(0.01) or doc.id, workers=2)
            batch.add_dir({str(tmp_path)!r})
            batch.start()
        forget()  # unreferenced: collected at once, a running batch cancelled hard

        engine = batchcore.Engine()
        batch = engine.batch(lambda doc: time.sleep(0.01), workers=2)
        batch.add_dir({str(tmp_path)!r})
        batch.start()
        print("exiting with a running batch")  # freed at exit, before the interpreter goes
    """)
    for i in range(50):
        (tmp_path / f"{i}.txt").write_text("x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHCORE_")}
    env["BATCHCORE_LIBRARY"] = batchcore.library_path()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "exiting with a running batch" and proc.stderr == ""


def test_a_running_batch_collected_on_its_own_worker_thread_ends_without_wedging(engine, make_docs):
    paths = make_docs(50)
    released, collected, freed, finished = (threading.Event() for _ in range(4))
    events = []

    once = threading.Lock()

    def collecting(doc):
        if released.wait(30):
            with once:
                if not collected.is_set():
                    gc.collect()  # frees the batch here, on one of its own worker threads
                    collected.set()
        return doc.id

    def on_event(event):
        events.append(event.kind)
        if event.kind == batchcore.EventKind.FINISHED:
            finished.set()

    gc.disable()  # collect only inside the processor
    try:
        batch = engine.batch(collecting, workers=2)
        batch.cycle = batch  # only the garbage collector can free it
        batch.add_dir(paths[0].parent)
        batch.on_event(on_event)
        weakref.finalize(batch, freed.set)
        batch.start()
        del batch
        released.set()
        assert collected.wait(30), "gc.collect() inside the processor never returned: bc_batch_free wedged"
        assert freed.is_set()
        assert finished.wait(30), "the freed batch never ended"
    finally:
        gc.enable()
    assert events[-1] == batchcore.EventKind.FINISHED
