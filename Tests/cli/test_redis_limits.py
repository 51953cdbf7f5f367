"""Distributed batches share one rate limit across workers (a Retry-After pauses
them all), and tenants share a worker fairly whatever their number of batches."""
from conftest import wait_for
from distributed import Worker, collect, committed, make_docs, status, submit, wait_finished
from distributed import kill_leftover_workers  # noqa: F401 (autouse fixture)
from mock_llm import MockLLM
from redis_server import RedisServer

KEY = "sk-mock-redis-0123456789"


def test_three_workers_share_one_rate_limit(tmp_path):
    docs = make_docs(tmp_path / "docs", 100)
    stamps = tmp_path / "stamps"
    stamp = ["--", "sh", "-c", f'date +%s.%N >> {stamps}', "sh", "{}"]
    with RedisServer() as server:
        batch = submit(server.url, str(docs), "--rate-limit", "20/s", *stamp)
        workers = [Worker(server.url, "-w", 4) for _ in range(3)]
        wait_finished(server.url, batch)
        assert [w.stop() for w in workers] == [0, 0, 0]
    times = sorted(float(line) for line in stamps.read_text().split())
    assert len(times) == 100
    busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert busiest <= 21, f"{busiest} calls in one second under a shared limit of 20/s"
    # And the limit is used: 100 calls at 20/s take 4.95 s. Jobs waiting for
    # it once went back through Redis and came back together, one in a
    # handful getting through: twice as long.
    assert times[-1] - times[0] < 8, f"100 calls took {times[-1] - times[0]:.1f} s under a limit of 20/s"


def test_a_429_with_retry_after_pauses_every_worker(tmp_path, monkeypatch):
    # The first document's first request gets a 429 with Retry-After: 2; the others are answered at once.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "d000.txt").write_text("mock:status=429\nmock:times=1\nmock:retry_after=2\n")
    for i in range(1, 100):
        (docs / f"d{i:03}.txt").write_text(f"document {i}\n")
    mock = MockLLM(key=KEY).start()
    monkeypatch.setenv("MOCK_LLM_KEY", KEY)
    llm = ["-p", "llm", "--set", "llm.provider=openai", "--set", f"llm.base_url={mock.base_url}",
           "--set", "llm.model=gpt-4o-mini", "--set", "llm.api_key_env=MOCK_LLM_KEY"]
    try:
        with RedisServer() as server:
            workers = [Worker(server.url, "-w", 2) for _ in range(3)]
            batch = submit(server.url, str(docs), *llm, "--rate-limit", "50/s")
            summary = wait_finished(server.url, batch)
            assert [w.stop() for w in workers] == [0, 0, 0]
    finally:
        mock.stop()
    assert summary["ok"] == 100
    assert sum(1 for w in summary["workers"] if w["done"] > 0) == 3, summary["workers"]
    refused = [r for r in mock.requests if r["status"] == 429]
    assert len(refused) == 1
    paused_at = refused[0]["time"]
    # Requests already sent when the 429 came back may still arrive; after
    # that, none from any worker until Retry-After has passed.
    during = [r["time"] - paused_at for r in mock.requests if paused_at + 0.3 < r["time"] < paused_at + 1.9]
    assert not during, f"{len(during)} requests reached the mock during the pause, at +{during[:5]} s"
    after = [r for r in mock.requests if r["time"] >= paused_at + 1.9]
    assert len(after) > 20, "the batch went on after the pause"


def test_a_tenant_with_three_batches_gets_no_more_than_a_tenant_with_one(tmp_path):
    slow = ["--", "sh", "-c", 'sleep 0.05; cat "$1"', "sh", "{}"]
    with RedisServer() as server:
        many = [submit(server.url, str(make_docs(tmp_path / f"a{i}", 200)), "--tenant", "a", *slow) for i in range(3)]
        one = submit(server.url, str(make_docs(tmp_path / "b", 200)), "--tenant", "b", *slow)
        worker = Worker(server.url, "-w", 4)
        done = lambda batch: committed(status(server.url, batch))  # noqa: E731
        wait_for(lambda: done(one) + sum(done(b) for b in many) >= 120, "120 documents committed")
        assert worker.stop() == 0
        a, b = sum(done(batch) for batch in many), done(one)
    # Fair across tenants first: b gets about half; fair across batches alone it would get a quarter.
    assert b >= 0.4 * (a + b), f"tenant a (3 batches) {a}, tenant b (1 batch) {b}"


def test_two_tenants_batches_both_progress(tmp_path):
    slow = ["--", "sh", "-c", 'sleep 0.02; cat "$1"', "sh", "{}"]
    with RedisServer() as server:
        first = submit(server.url, str(make_docs(tmp_path / "a", 300)), "--tenant", "a", *slow)
        second = submit(server.url, str(make_docs(tmp_path / "b", 300)), "--tenant", "b", *slow)
        workers = [Worker(server.url, "-w", 2) for _ in range(2)]
        wait_for(lambda: committed(status(server.url, first)) >= 60, "the first tenant's batch to progress")
        later = committed(status(server.url, second))
        assert later > 0, "the second tenant's batch starved while the first ran"
        wait_finished(server.url, first)
        wait_finished(server.url, second)
        assert [w.stop() for w in workers] == [0, 0]


def test_a_worker_for_one_tenant_serves_only_its_batches(tmp_path):
    with RedisServer() as server:
        mine = submit(server.url, str(make_docs(tmp_path / "a", 5)), "--tenant", "a", "--", "cat", "{}")
        other = submit(server.url, str(make_docs(tmp_path / "b", 5)), "--tenant", "b", "--", "cat", "{}")
        worker = Worker(server.url, "--tenant", "a")
        wait_finished(server.url, mine)
        assert worker.stop() == 0
        assert committed(status(server.url, other)) == 0


def test_a_shared_budget_is_never_exceeded_and_closes_the_batch(tmp_path, counting):
    docs = make_docs(tmp_path / "docs", 100)
    with RedisServer() as server:
        # Each document costs 1000 input tokens at $10/Mtok = $0.01: $0.25 buys 25, whichever worker runs them.
        batch = submit(server.url, str(docs), "-p", counting, "--set", "usage=1000,0", "--set", "estimate=1000,0",
                       "--price-input", "10", "--budget", "0.25")
        workers = [Worker(server.url, "-w", 3) for _ in range(2)]
        summary = wait_for(lambda: (s := status(server.url, batch))["state"] == "cancelled" and s, "the budget to close the batch")
        assert [w.stop() for w in workers] == [0, 0]
        records = collect(server.url, batch, tmp_path / "out.jsonl")
    assert 20 <= len(records) <= 25, len(records)
    assert sum(r["cost_usd"] for r in records) <= 0.25 + 1e-9
    assert summary["cost_usd"] <= 0.25 + 1e-9
