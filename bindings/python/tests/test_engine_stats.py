"""engine.stats(): every running batch, totals per tenant, workers in use."""
from __future__ import annotations

import threading
import time

from conftest import batchcore


def wait_for(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_engine_stats_count_workers_per_tenant_while_batches_run(make_docs):
    paths = make_docs(20)
    release = threading.Event()

    @batchcore.processor(name="held")
    def held(doc):
        release.wait(30)
        return doc.id

    with batchcore.Engine(workers=8) as engine:
        batches = [engine.batch(held, workers=workers, tenant=tenant)
                   for tenant, workers in (("alice", 2), ("alice", 1), ("bob", 2))]
        try:
            for batch in batches:
                batch.add_dir(paths[0].parent)
                batch.start()
            stats = wait_for(lambda: (s := engine.stats())["workers_in_use"] == 5 and s)
            tenants = {t["tenant"]: t for t in stats["tenants"]}
            assert tenants["alice"]["batches"] == 2 and tenants["alice"]["workers_in_use"] == 3
            assert tenants["alice"]["in_flight"] == 3 and tenants["bob"]["workers_in_use"] == 2
            assert sorted((b["tenant"], b["workers_in_use"]) for b in stats["batches"]) == [
                ("alice", 1), ("alice", 2), ("bob", 2)]
            assert all(b["total"] == 20 and b["ok"] == 0 for b in stats["batches"]) and stats["max_workers"] == 8
        finally:
            release.set()
            for batch in batches:
                batch.wait()
                batch.close()
        after = engine.stats()
        assert after["batches"] == [] and after["tenants"] == [] and after["workers_in_use"] == 0


def test_tenant_cap_holds_over_its_batches_while_another_tenant_runs(make_docs):
    paths = make_docs(12)
    release = threading.Event()
    lock = threading.Lock()
    counts = {"now": 0, "most": 0}

    @batchcore.processor(name="alice")
    def alice(doc):
        with lock:
            counts["now"] += 1
            counts["most"] = max(counts["most"], counts["now"])
        release.wait(30)
        with lock:
            counts["now"] -= 1
        return doc.id

    with batchcore.Engine(workers=16) as engine:
        engine.set_tenant("alice", max_workers=2)
        batches = [engine.batch(alice, workers=4, tenant="alice") for _ in range(2)]
        bob = engine.batch(lambda doc: doc.id, workers=4, tenant="bob")
        try:
            for batch in batches:
                batch.add_dir(paths[0].parent)
                batch.start()
            wait_for(lambda: counts["now"] == 2)
            bob.add_dir(paths[0].parent)
            bob.start()
            assert bob.wait(timeout=60) and bob.stats().ok == 12  # alice is full, bob still runs
            tenants = {t["tenant"]: t for t in engine.stats()["tenants"]}
            assert tenants["alice"]["max_workers"] == 2 and tenants["alice"]["workers_in_use"] == 2
        finally:
            release.set()
            for batch in batches + [bob]:
                batch.wait()
                batch.close()
        assert counts["most"] == 2
        engine.set_tenant("alice", max_workers=None)
