"""batchhost run: inputs, stages, output, exit codes."""
import hashlib
import json
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BATCHHOST, ROOT, compile_plugin, read_jsonl, run, wait_for

SAMPLES = ROOT / "samples"
PLUGIN_HEADER = (ROOT / "include" / "batchcore_plugin.h").read_text()


def test_text_plugin_over_samples_writes_one_record_per_document(tmp_path):
    out = tmp_path / "out.jsonl"
    r = run("run", SAMPLES, "--glob", "*.txt", "-p", "text", "-o", out)
    assert r.code == 0, r
    records = read_jsonl(out)
    assert len(records) == 36
    assert len({rec["id"] for rec in records}) == 36
    for rec in records:
        assert rec["status"] == "ok"
        assert rec["error"] is None and rec["attempts"] == 1
        assert isinstance(rec["duration_ms"], (int, float))
        data = Path(rec["path"]).read_bytes()
        assert rec["output"]["bytes"] == len(data)
        assert rec["output"]["sha256"] == hashlib.sha256(data).hexdigest()
        lines = data.count(b"\n") + (not data.endswith(b"\n") and data != b"")
        assert rec["output"]["lines"] == lines and rec["output"]["words"] == len(data.split())
        assert rec["output"]["encoding"] == "utf-8"
    assert "36 of 36 documents" in r.err and "36 ok" in r.err and "ms/doc" in r.err


def test_results_go_to_stdout_without_output_flag(docs):
    r = run("run", docs, "-p", "text")
    assert r.code == 0, r
    assert len(r.records) == 20


def test_exec_command_after_double_dash(docs):
    r = run("run", docs, "-w", "4", "--", "wc", "-c", "{}")
    assert r.code == 0, r
    for rec in r.records:
        size = Path(rec["path"]).stat().st_size
        assert rec["output"].split()[0] == str(size)


def test_file_named_like_a_shell_expansion_is_just_a_name(tmp_path):
    d = tmp_path / "evil"
    d.mkdir()
    name = "$(touch pwned).txt"
    (d / name).write_text("x")
    (d / "a;touch pwned2;.txt").write_text("y")
    r = run("run", ".", "--", "/bin/echo", "{}", cwd=d)
    assert r.code == 0, r
    outputs = sorted(rec["output"].strip() for rec in r.records)
    assert outputs == ["./$(touch pwned).txt", "./a;touch pwned2;.txt"]
    assert not (d / "pwned").exists() and not (d / "pwned2").exists()
    assert not (tmp_path / "pwned").exists()


def test_failed_documents_exit_1_and_are_reported(docs):
    script = 'case "$1" in *doc-0[0-4]*) echo "no good: $1" >&2; exit 3;; esac; cat "$1"'
    r = run("run", docs, "--", "sh", "-c", script, "sh", "{}")
    assert r.code == 1, r
    records = {rec["id"]: rec for rec in r.records}
    failed = [i for i, rec in records.items() if rec["status"] == "failed"]
    assert len(failed) == 5 and len(records) == 20
    for i in failed:
        assert "exit status 3" in records[i]["error"] and "no good" in records[i]["error"]
        assert f"failed: {i}:" in r.err
    assert "15 ok" in r.err and "5 failed" in r.err


def test_retry_exit_code_75_is_retried(tmp_path, docs):
    marker = tmp_path / "seen"
    marker.mkdir()
    # Fails with EX_TEMPFAIL the first time it sees a document, then succeeds.
    script = 'm="$2/$(basename "$1")"; if [ -e "$m" ]; then echo ok; else touch "$m"; exit 75; fi'
    r = run("run", docs, "-O", "retry.base=10ms", "--", "sh", "-c", script, "sh", "{}", marker)
    assert r.code == 0, r
    assert all(rec["attempts"] == 2 and rec["status"] == "ok" for rec in r.records)
    assert "20 retries" in r.err


def test_two_stages_feed_each_other(docs):
    r = run("run", docs, "-p", "text", "-p", "exec", "--set", "command=sh -c 'cat; echo'")
    assert r.code == 0, r
    for rec in r.records:
        # The second stage got the first one's output: the file's real digest.
        assert rec["output"].endswith("}\n")
        assert json.loads(rec["output"])["sha256"] == hashlib.sha256(Path(rec["path"]).read_bytes()).hexdigest()


def test_named_stage_options(docs):
    r = run("run", docs, "-p", "exec", "-p", "exec", "--set", "exec.command=echo first {id}",
            "--set", "exec-2.command=tr a-z A-Z")
    assert r.code == 0, r
    assert all(rec["output"].startswith("FIRST ") for rec in r.records)


def test_paths_from_stdin(docs):
    paths = "\n".join(str(p) for p in sorted(docs.iterdir())[:7]) + "\n\n"
    r = run("run", "-", "-p", "text", stdin=paths)
    assert r.code == 0, r
    assert len(r.records) == 7


def test_manifest_with_metadata():
    r = run("run", "--manifest", SAMPLES / "manifest.jsonl", "-p", "text")
    assert r.code == 0, r
    by_id = {rec["id"]: rec for rec in r.records}
    assert set(by_id) == {"water-shutoff", "application-fr", "prescription", "quarterly"}
    assert by_id["application-fr"]["metadata"] == {"kind": "letter", "lang": "fr"}


def test_malformed_manifest_is_a_usage_error_naming_the_line(tmp_path):
    m = tmp_path / "bad.jsonl"
    m.write_text('{"path": "a.txt"}\n{"path": 42}\n')
    r = run("run", "--manifest", m, "-p", "text")
    assert r.code == 2, r
    assert "bad.jsonl:2" in r.err and '"path"' in r.err


def test_missing_file_fails_that_document_only(docs, tmp_path):
    r = run("run", docs / "doc-01.txt", tmp_path / "nope.txt", "-p", "text")
    assert r.code == 2 and "does not exist" in r.err, r
    listing = tmp_path / "list.txt"
    listing.write_text(f"{docs / 'doc-01.txt'}\n{tmp_path / 'nope.txt'}\n")
    r = run("run", "-", "-p", "text", stdin=listing.read_text())
    assert r.code == 1, r
    by_path = {rec["path"]: rec for rec in r.records}
    assert by_path[str(docs / "doc-01.txt")]["status"] == "ok"
    missing = by_path[str(tmp_path / "nope.txt")]
    assert missing["status"] == "failed" and "nope.txt" in missing["error"]


def test_sequential_keeps_input_order(docs):
    r = run("run", docs, "-s", "--", "echo", "{id}")
    assert r.code == 0, r
    assert [rec["id"] for rec in r.records] == [str(p) for p in sorted(docs.iterdir())]


def test_bad_option_key_and_value_name_what_was_wrong(docs):
    r = run("run", docs, "-p", "text", "-O", "wrkers=3")
    assert r.code == 2 and "'wrkers'" in r.err and "did you mean 'workers'" in r.err, r
    r = run("run", docs, "-p", "text", "-w", "abc")
    assert r.code == 2, r
    assert "'workers'" in r.err and "'abc'" in r.err and "expected a whole number" in r.err
    r = run("run", docs, "-p", "text", "--set", "nosuch=1")
    assert r.code == 2 and "'nosuch'" in r.err, r


def test_usage_errors_exit_2(docs):
    assert run("run", docs).code == 2
    assert run("run", "-p", "text").code == 2
    assert run("run", docs, "--bogus").code == 2
    assert run("frobnicate").code == 2


def test_usage_errors_read_alike_with_the_subcommands_usage(docs):
    for args, message in [(["run", docs], "no processor"), (["run", "-p", "text"], "no input"),
                          (["run", docs, "--bogus"], "Unknown option '--bogus'"),
                          (["run", docs, "-p", "text", "--progress", "loud"], "--progress 'loud'")]:
        r = run(*args)
        assert r.code == 2, r
        assert r.err.startswith(f"batchhost: error: {message}"), r.err
        assert "\nUsage: batchhost run " in r.err and "batchhost run --help" in r.err, r.err


def test_unknown_processor_lists_where_it_looked(docs, tmp_path):
    r = run("run", docs, "-p", "nosuch", "--plugin-dir", tmp_path)
    assert r.code == 2, r
    assert "no processor named 'nosuch'" in r.err
    assert "nosuch.so" in r.err and str(tmp_path) in r.err


def test_third_party_plugin_from_plugins_dir(docs, tmp_path):
    compile_plugin(ROOT / "examples" / "plugin" / "upper.c", tmp_path / "plugins" / "upper.so")
    r = run("run", docs, "-p", "upper", "--set", "prefix=>> ", cwd=tmp_path)
    assert r.code == 0, r
    for rec in r.records:
        assert rec["output"] == ">> " + Path(rec["path"]).read_text().upper()
    listing = run("plugins", cwd=tmp_path)
    assert "upper" in listing.out and "plugins/upper.so" in listing.out


@pytest.mark.parametrize("abi", [2, 0], ids=["newer", "older"])
def test_wrong_abi_plugin_is_refused_naming_both_versions(docs, tmp_path, abi):
    compile_plugin(ROOT / "Tests" / "c" / "plugins" / "refused.c", tmp_path / "wrong_abi.so", f"-DBUILT_FOR_ABI={abi}")
    r = run("run", docs, "-p", tmp_path / "wrong_abi.so")
    assert r.code == 2, r
    host = ".".join(re.search(rf"#define BC_PLUGIN_ABI_{part} (\d+)", PLUGIN_HEADER).group(1) for part in ("MAJOR", "MINOR"))
    assert f"plugin 'wrong_abi' ({tmp_path / 'wrong_abi.so'}) was built for ABI {abi}.0, this host speaks ABI {host}" in r.err, r


def test_plugins_lists_bundled_text_plugin():
    r = run("plugins")
    assert r.code == 0, r
    assert "text" in r.out and "libbatchcore-text.so" in r.out and "exec" in r.out


def test_options_lists_the_registry():
    r = run("options")
    assert r.code == 0
    for key in ["workers", "sequential", "output", "retry.attempts"]:
        assert key in r.out


def test_sigint_stops_early_with_exit_3(docs, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([str(BATCHHOST), "run", str(docs), "-w", "2", "-o", str(out),
                             "--", "sh", "-c", "sleep 0.3; echo done"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: out.exists() and "\n" in out.read_text(), "a first result in the output")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "interrupted" in err and "stopped early" in err
    records = read_jsonl(out)
    assert 0 < len(records) < 20
    assert all(rec["status"] == "ok" for rec in records)


def test_rate_limit_flag_spaces_the_calls(docs):
    started = time.monotonic()
    r = run("run", docs, "-w", "8", "--rate-limit", "10/s", "--", "true")
    elapsed = time.monotonic() - started
    assert r.code == 0, r
    assert len(r.records) == 20
    assert elapsed >= 1.8, f"20 calls at 10/s took only {elapsed:.2f} s"
    bad = run("run", docs, "--rate-limit", "fast", "--", "true")
    assert bad.code == 2 and "'rate_limit'" in bad.err and "expected a rate" in bad.err, bad


# ---- sequential, attempts ---------------------------------------------------

def ids_manifest(tmp_path, ids):
    m = tmp_path / "docs.jsonl"
    m.write_text("".join(json.dumps({"id": i, "path": "/dev/null"}) + "\n" for i in ids))
    return m


def test_sequential_waits_for_a_retry_before_the_next_document(tmp_path, counting):
    ids = [f"{i:03d}" for i in range(6)]
    calls = tmp_path / "calls"
    # 002's first attempt asks for a retry after 300 ms, as a 429 would.
    r = run("run", "--manifest", ids_manifest(tmp_path, ids), "-p", counting, "-s",
            "--set", f"calls={calls}", "--set", "throttle=002")
    assert r.code == 0, r
    assert calls.read_text().split() == ["000", "001", "002", "002", "003", "004", "005"]
    assert [rec["id"] for rec in r.records] == ids
    assert [rec["attempts"] for rec in r.records] == [1, 1, 2, 1, 1, 1]


def test_attempts_count_retries_of_the_document_not_its_stages(tmp_path, counting):
    out = tmp_path / "out.jsonl"
    # Two stages; b's first stage asks for one retry; nothing else is retried.
    r = run("run", "--manifest", ids_manifest(tmp_path, ["a", "b", "c"]), "-p", counting, "-p", counting,
            "--set", "counting.throttle=b", "-o", out)
    assert r.code == 0, r
    attempts = {rec["id"]: rec["attempts"] for rec in read_jsonl(out)}
    assert attempts == {"a": 1, "b": 2, "c": 1}, attempts
    assert "; 1 retry" in r.err and "retries" not in r.err, r.err
    status = json.loads(run("status", f"{out}.journal", "--json").out)
    assert status["attempts"] == 4, status  # the journal agrees with the output


@pytest.mark.parametrize("output", ["stdout", "device", "journaled file"])
def test_a_run_waiting_on_its_processor_uses_almost_no_cpu(tmp_path, output):
    # Two documents that each sleep 1 s: the engine's own threads (the
    # result writer, the workers, the event pump) must sleep too, not spin.
    # A regular output file has a journal beside it; stdout and a device do not.
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(name)
    where = {"stdout": [], "device": ["-o", "/dev/null"], "journaled file": ["-o", tmp_path / "out.jsonl"]}[output]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = run("run", tmp_path / "a.txt", tmp_path / "b.txt", "-w", "1", *where, "--", "sh", "-c", "sleep 1")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.code == 0, r
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.5, f"{cpu:.2f} s of CPU over 2 s of sleeping documents"
