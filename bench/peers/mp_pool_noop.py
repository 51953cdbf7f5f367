#!/usr/bin/env python3
"""Peer of scenario 1: every manifest entry through a no-op function on a
multiprocessing.Pool, with imap_unordered and a chunksize, so documents
cross the process boundary in batches rather than one by one.

    mp_pool_noop.py MANIFEST WORKERS CHUNKSIZE

Prints {"seconds": S, "docs": N}; the clock includes starting the pool.
"""
import json
import sys
import time
from multiprocessing import Pool

from manifest_reader import read_manifest


def process(doc):
    return None


def main():
    started = time.perf_counter()
    manifest, workers, chunksize = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    docs = 0
    with Pool(processes=workers) as pool:
        for _ in pool.imap_unordered(process, read_manifest(manifest), chunksize=chunksize):
            docs += 1
    print(json.dumps({"seconds": time.perf_counter() - started, "docs": docs}))


if __name__ == "__main__":
    main()
