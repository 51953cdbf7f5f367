#!/usr/bin/env python3
"""Peer of scenario 1: every manifest entry through a no-op function on a
ThreadPoolExecutor, with Executor.map, the idiomatic way.

    threadpool_noop.py MANIFEST WORKERS

Prints {"seconds": S, "docs": N}; the clock includes reading the manifest.
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from manifest_reader import read_manifest


def process(doc):
    return None


def main():
    started = time.perf_counter()
    manifest, workers = sys.argv[1], int(sys.argv[2])
    docs = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(process, read_manifest(manifest)):
            docs += 1
    print(json.dumps({"seconds": time.perf_counter() - started, "docs": docs}))


if __name__ == "__main__":
    main()
