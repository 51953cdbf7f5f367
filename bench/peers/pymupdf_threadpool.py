"""Text of every page of every PDF, with PyMuPDF in a ThreadPoolExecutor.

    python pymupdf_threadpool.py PATHS.txt WORKERS

The way a Python user extracts PDF text in parallel without a process pool.
Prints {"seconds": ..., "pages": ...} (the clock starts after the imports).
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pymupdf


def extract(path):
    with pymupdf.open(path) as doc:
        texts = [page.get_text() for page in doc]
    return len(texts), sum(len(t) for t in texts)


def main():
    paths, workers = open(sys.argv[1]).read().split(), int(sys.argv[2])
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(extract, paths))
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "pages": sum(p for p, _ in results),
                      "chars": sum(c for _, c in results)}))


if __name__ == "__main__":
    main()
