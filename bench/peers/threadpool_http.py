#!/usr/bin/env python3
"""Peer of scenario 6b: one HTTP call per document to a rate-limited API,
on a ThreadPoolExecutor, with the usual retry loop and no rate limiter.

    threadpool_http.py MANIFEST WORKERS BASE_URL [ATTEMPTS]

A 429 or a failed call is retried with full-jitter exponential backoff
(a random wait in [0, min(60, 1 * 2^(n-1))] seconds), never sooner than the
Retry-After the server sent. These are batchcore's own retry defaults, so
both sides differ only in the rate limiter.

Prints {"seconds": S, "docs": N, "failed": F, "429s": R}; the clock includes
reading the manifest.
"""
import json
import random
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from manifest_reader import read_manifest

BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


def main():
    started = time.perf_counter()
    manifest, workers, base_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    attempts = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    seen_429 = []  # list.append is atomic: a counter without a lock

    def process(doc):
        url = f"{base_url}/doc/{doc['id']}"
        for attempt in range(1, attempts + 1):
            retry_after = 0.0
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    return response.read()
            except urllib.error.HTTPError as e:
                if e.code == 429:
                    seen_429.append(1)
                    retry_after = float(e.headers.get("Retry-After") or 0)
            except (urllib.error.URLError, OSError):
                pass
            if attempt < attempts:
                backoff = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
                time.sleep(max(retry_after, random.uniform(0, backoff)))
        return None

    docs = failed = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for body in pool.map(process, read_manifest(manifest)):
            docs += 1
            failed += body is None
    print(json.dumps({"seconds": time.perf_counter() - started, "docs": docs, "failed": failed,
                      "429s": len(seen_429)}))


if __name__ == "__main__":
    main()
