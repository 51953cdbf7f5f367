"""Where batchhost finds its plugins and worker, however it is called."""
import json
import os
import re
import subprocess

import pytest

from conftest import BUILD, ROOT, run

NOTES = ROOT / "samples" / "notes"


def by_name(*args, cwd, path):
    """batchhost called by name, found through PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("BATCHCORE_PLUGIN_PATH", "BATCHCORE_WORKER")}
    env["PATH"] = f"{path}:{env.get('PATH', '')}"
    return subprocess.run(["batchhost", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_batchhost_called_through_path_finds_the_bundled_plugins_and_worker(tmp_path, isolation):
    link = tmp_path / "bin"
    link.mkdir()
    (link / "batchhost").symlink_to(BUILD / "batchhost")
    proc = by_name("run", NOTES, "-p", "text", "--isolation", isolation, "-q", cwd=tmp_path, path=link)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 12 and {r["status"] for r in results} == {"ok"}
    first = next(r for r in results if r["id"].endswith("note-01.txt"))
    assert first["output"]["bytes"] == (NOTES / "note-01.txt").stat().st_size


def test_a_plugin_found_twice_is_listed_once_with_the_one_used():
    # In a checkout, ./plugins holds the declarations and the build folder a copy of them.
    r = run("plugins", cwd=ROOT)
    assert r.code == 0, r
    names = re.findall(r"^(\S+)\s", r.out, re.M)
    assert sorted(names) == sorted(set(names)), r.out
    assert {"crc32", "filetype", "text", "exec"} <= set(names)
    crc32 = r.out.split("crc32", 1)[1].splitlines()[1].strip()
    assert crc32 == "plugins/crc32.toml (declared)", r.out  # ./plugins comes first, as for -p crc32
