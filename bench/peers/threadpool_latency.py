#!/usr/bin/env python3
"""Peer of scenario 3: documents that each wait on I/O (time.sleep, which
releases the GIL like a socket read does) on a ThreadPoolExecutor.

    threadpool_latency.py MANIFEST WORKERS MILLISECONDS

Prints {"seconds": S, "docs": N}; the clock includes reading the manifest.
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from manifest_reader import read_manifest


def main():
    started = time.perf_counter()
    manifest, workers, ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    delay = ms / 1000.0

    def process(doc):
        time.sleep(delay)

    docs = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(process, read_manifest(manifest)):
            docs += 1
    print(json.dumps({"seconds": time.perf_counter() - started, "docs": docs}))


if __name__ == "__main__":
    main()
