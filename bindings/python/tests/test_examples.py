"""The examples in examples/python run and say what they should."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import PACKAGE_PARENT, ROOT, batchcore

EXAMPLES = ROOT / "examples" / "python"


def run_example(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BATCHCORE_LIBRARY=batchcore.library_path(),
               PYTHONPATH=str(PACKAGE_PARENT))
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_keywords_example():
    proc = run_example("keywords.py", "samples")
    assert proc.returncode == 0, proc.stderr
    assert "samples/letters/letter-01.txt: " in proc.stdout
    assert "36 documents in " in proc.stdout and " 0 failed" in proc.stdout


def test_text_progress_example(tmp_path):
    output = tmp_path / "text.jsonl"
    proc = run_example("text_progress.py", "samples", str(output))
    assert proc.returncode == 0, proc.stderr
    assert "36 documents, 36 ok, 0 failed" in proc.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 36 and set(records[0]["output"]) == {"words", "lines", "encoding"}
