#!/usr/bin/env python3
"""batchcore's side of the Redis scenario: `batchhost worker` processes on a
redis-server of their own, then `batchhost submit` of N documents of a
plugin (no-op, or sleeping MS ms).

    redis_batchcore.py BATCHHOST PLUGIN_DIR PLUGIN MS DOCS PROCESSES THREADS

First submits the documents with no worker running, to measure Redis'
memory per queued document; then, on an empty server, starts the workers,
waits until each serves, submits the documents again and times from the
start of the submission until the batch is finished (every result
committed). Prints {"seconds", "docs", "redis_bytes_per_doc"}.
"""
import os
import subprocess
import sys
import tempfile
import time

from redis_common import Redis, report, stop, wait_until


def submit(batchhost, plugin_dir, plugin, ms, manifest, url):
    argv = [batchhost, "submit", "--redis", url, "-q", "--plugin-dir", plugin_dir, "-p", plugin, "--manifest", manifest]
    if ms > 0:
        argv += ["--set", f"ms={ms}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main():
    batchhost, plugin_dir, plugin = sys.argv[1:4]
    ms, docs, processes, threads = (int(a) for a in sys.argv[4:8])
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as manifest:
        manifest.writelines(f'{{"id":"d{i}"}}\n' for i in range(docs))
        manifest.flush()
        redis = Redis()
        try:
            empty = redis.used_memory()
            submit(batchhost, plugin_dir, plugin, ms, manifest.name, redis.url)
            per_doc = (redis.used_memory() - empty) / docs
            redis.command("FLUSHALL")
            workers = [subprocess.Popen([batchhost, "worker", "--redis", redis.url, "-w", str(threads),
                                         "--plugin-dir", plugin_dir], stderr=subprocess.PIPE, text=True)
                       for _ in range(processes)]
            for w in workers:
                while " serving " not in w.stderr.readline():
                    pass
            started = time.perf_counter()
            batch = submit(batchhost, plugin_dir, plugin, ms, manifest.name, redis.url)
            wait_until(lambda: redis.command("HGET", f"batchcore:batch:{batch}:meta", "state") == "finished",
                       600, "the batch to finish")
            seconds = time.perf_counter() - started
            stop(workers)
        finally:
            redis.close()
    report(seconds, docs, per_doc)


if __name__ == "__main__":
    main()
