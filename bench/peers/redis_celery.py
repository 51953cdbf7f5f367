#!/usr/bin/env python3
"""Celery's side of the Redis scenario: `celery worker` processes (thread
pool, the same concurrency as batchcore's) on a redis-server of their own,
then N tasks sent with apply_async (no-op, or sleeping MS ms).

    redis_celery.py MS DOCS PROCESSES THREADS

Measured as batchcore's side: Redis memory per queued task with no worker
running, then the time from the first apply_async until every task ran.
Tasks store no result (ignore_result); each counts itself with one INCR,
which is how completion is seen.
"""
import os
import subprocess
import sys
import time

from redis_common import Redis, report, stop, wait_until

APP = """
import os, time
import redis
from celery import Celery
app = Celery("bench", broker=os.environ["BENCH_REDIS"])
app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=4, broker_connection_retry_on_startup=True,
                worker_hijack_root_logger=False)
done = redis.Redis.from_url(os.environ["BENCH_REDIS"])

@app.task(name="work")
def work(ms):
    if ms:
        time.sleep(ms / 1000)
    done.incr("bench:done")
"""


def main():
    ms, docs, processes, threads = (int(a) for a in sys.argv[1:5])
    here = os.path.dirname(os.path.abspath(__file__))
    workdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench-celery-{os.getpid()}")
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "celery_bench_app.py"), "w") as f:
        f.write(APP)
    sys.path.insert(0, workdir)
    redis = Redis()
    os.environ["BENCH_REDIS"] = redis.url
    try:
        from celery_bench_app import app, work
        empty = redis.used_memory()
        for _ in range(docs):
            work.apply_async((ms,))
        per_doc = (redis.used_memory() - empty) / docs
        redis.command("FLUSHALL")
        env = dict(os.environ, PYTHONPATH=workdir)
        workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "celery_bench_app", "worker", "--pool", os.environ.get("BENCH_CELERY_POOL", "threads"),
                                     "--concurrency", str(threads), "--loglevel", "WARNING", "-n", f"w{i}@%h",
                                     "--without-gossip", "--without-mingle", "--without-heartbeat"],
                                    cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for i in range(processes)]
        wait_until(lambda: len(app.control.ping(timeout=0.5)) >= processes, 120, "every worker to answer a ping")
        started = time.perf_counter()
        for _ in range(docs):
            work.apply_async((ms,))
        wait_until(lambda: int(redis.command("GET", "bench:done") or 0) >= docs, 600, "every task to run")
        seconds = time.perf_counter() - started
        stop(workers)
    finally:
        redis.close()
    report(seconds, docs, per_doc)


if __name__ == "__main__":
    main()
