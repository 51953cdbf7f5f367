"""Standard output carries the results alone, whatever a plugin prints."""
import json

import pytest
from conftest import ROOT, compile_plugin, run


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_what_a_plugin_prints_goes_to_stderr_not_among_the_results(tmp_path, docs, isolation):
    chatty = compile_plugin(ROOT / "Tests" / "cli" / "plugins" / "chatty.c", tmp_path / "chatty.so")
    r = run("run", docs, "-p", chatty, "-w", "4", "--isolation", isolation, "--progress", "off")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert len(lines) == 20, r
    records = [json.loads(line) for line in lines]  # every line is a result
    assert sorted(record["output"] for record in records) == sorted(record["id"] for record in records)
    assert "chatty: ready" in r.err and r.err.count("chatty: processing") == 20
