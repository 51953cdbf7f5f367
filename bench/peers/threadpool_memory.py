#!/usr/bin/env python3
"""Peer of scenario 5: the common pattern of submitting a future per
document, then collecting them with as_completed (what progress bars and
per-document error handling are usually built on).

    threadpool_memory.py MANIFEST WORKERS

Prints {"seconds": S, "docs": N}. Peak memory is measured from outside.
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from manifest_reader import read_manifest


def process(doc):
    return None


def main():
    started = time.perf_counter()
    manifest, workers = sys.argv[1], int(sys.argv[2])
    docs = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(process, doc) for doc in read_manifest(manifest)]
        for future in as_completed(futures):
            future.result()
            docs += 1
    print(json.dumps({"seconds": time.perf_counter() - started, "docs": docs}))


if __name__ == "__main__":
    main()
