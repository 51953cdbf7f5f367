#!/usr/bin/env python3
"""The bundled C `text` plugin driven from Python, with a progress line.

Two stages: the `text` plugin (a C shared object the engine loads with
dlopen) describes each file as JSON; a small Python stage then keeps the
fields we want. Results also go to a JSON Lines file. It shows:
  - mixing a C plugin stage and a Python stage, with a stage option;
  - a progress callback receiving progress, document and final events;
  - the summary statistics.

    python3 examples/python/text_progress.py samples out/text.jsonl
"""
import json
import sys

import batchcore


@batchcore.processor
def summary(doc: batchcore.Doc):
    """Keeps three fields of the text plugin's output."""
    described = json.loads(doc.input)  # the previous stage's output
    return {"words": described["words"], "lines": described["lines"], "encoding": described["encoding"]}


def show_progress(event: batchcore.Event) -> None:
    """Called on the batch's event thread, one event at a time."""
    stats = event.stats
    if event.kind == batchcore.EventKind.DOCUMENT and event.status == batchcore.Status.FAILED:
        print(f"\nfailed: {event.id}: {event.error}", file=sys.stderr)
    if event.kind == batchcore.EventKind.PROGRESS:  # every progress_interval
        total = stats.total if stats.total_known else "?"
        print(f"\r{stats.finished}/{total} documents, {stats.ok} ok, {stats.failed} failed, "
              f"{stats.docs_per_hour / 60:,.0f} docs/min", end="", file=sys.stderr, flush=True)
    elif event.kind == batchcore.EventKind.FINISHED:
        print(f"\r{stats.finished} documents, {stats.ok} ok, {stats.failed} failed", file=sys.stderr)


def main() -> int:
    folder = sys.argv[1] if len(sys.argv) > 1 else "samples"
    output = sys.argv[2] if len(sys.argv) > 2 else "text.jsonl"
    with batchcore.Engine() as engine:
        stages = [("text", {"max_bytes": "1MiB"}), summary]
        with engine.batch(stages=stages, workers=8, output=output, progress_interval="100ms") as batch:
            batch.add_dir(folder, glob="*.txt")
            stats = batch.run(progress=show_progress)
    print(f"{stats.ok} ok, {stats.failed} failed in {stats.elapsed_seconds:.2f} s; results in {output}")
    return 1 if stats.failed else 0


if __name__ == "__main__":
    sys.exit(main())
