#!/usr/bin/env python3
"""A processor written in Python, run by batchcore over a folder of documents.

For each text file it finds the most frequent words (a stand-in for the
real work: an OCR call, an LLM request). It shows:
  - @batchcore.processor on a plain function;
  - returning a dict, which becomes the document's JSON output;
  - batchcore.Result for a partial result with a message;
  - an exception failing only its document;
  - reading every result as a dataclass.

Run it from the checkout after `swift build -c release`:

    pip install ./bindings/python          # or: export PYTHONPATH=bindings/python/src
    python3 examples/python/keywords.py samples
"""
import collections
import re
import sys

import batchcore

STOP_WORDS = set("""
    a an and are as at be by each for from has have i in is it of on our so that the this to was we
    were will with without you your de des du et la le les un une die der das und ein eine
""".split())


@batchcore.processor
def keywords(doc: batchcore.Doc):
    """The five most frequent words of a document."""
    text = doc.text()  # the file's contents (or, in a later stage, the previous output)
    words = [w for w in re.findall(r"[^\W\d_]{2,}", text.lower()) if w not in STOP_WORDS]
    if not words:
        raise ValueError("no words in this document")  # fails this document only
    top = [word for word, _ in collections.Counter(words).most_common(5)]
    if len(words) < 30:
        # Usable, but thin: the document ends "partial" with this message.
        return batchcore.Result({"keywords": top}, status="partial", error=f"only {len(words)} words")
    return {"keywords": top, "words": len(words)}


def main() -> int:
    folder = sys.argv[1] if len(sys.argv) > 1 else "samples"
    with batchcore.Engine() as engine, engine.batch(keywords, workers=4) as batch:
        batch.add_dir(folder, glob="*.txt")
        stats = batch.run()
        for result in sorted(batch.results(), key=lambda r: r.id):
            if result.status == batchcore.Status.FAILED:
                print(f"{result.id}: failed: {result.error}")
            else:
                note = f"  ({result.error})" if result.error else ""
                print(f"{result.id}: {', '.join(result.json()['keywords'])}{note}")
    print(f"\n{stats.finished} documents in {stats.elapsed_seconds:.2f} s: "
          f"{stats.ok} ok, {stats.partial} partial, {stats.failed} failed")
    return 1 if stats.failed else 0


if __name__ == "__main__":
    sys.exit(main())
