"""File names that are not UTF-8 keep their exact bytes through the engine."""
from __future__ import annotations

import os

from conftest import batchcore


def test_names_that_are_not_utf8_reach_processors_and_results_byte_for_byte(engine, tmp_path):
    folder = os.fsencode(tmp_path)
    names = [b"caf\xe9.txt", b"caf\xe8.txt"]
    for name in names:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(name)
    seen = {}

    @batchcore.processor
    def read(doc):
        seen[os.fsencode(doc.path)] = doc.read()
        return "ok"

    with engine.batch(stages=[read]) as batch:
        batch.add_dir(tmp_path)
        batch.add(os.path.join(folder, b"caf\xe9.txt"), id="by-argument")
        stats = batch.run()
        results = list(batch.results())
    assert stats.ok == 3, [r.error for r in results]
    wanted = {os.path.join(folder, name) for name in names}
    assert set(seen) == wanted and all(seen[p] == os.path.basename(p) for p in seen)
    assert {os.fsencode(r.path) for r in results} == wanted
    assert {os.fsencode(r.id) for r in results} == wanted | {b"by-argument"}
