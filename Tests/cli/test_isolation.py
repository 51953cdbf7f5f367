"""isolation=process: plugins run in worker processes that may crash, hang or leak."""
import json
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import BATCHHOST, BUILD, ROOT, LineReader, compile_plugin, read_jsonl, run

SUBREAPER = Path(__file__).resolve().parent / "subreaper.py"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """The faulty test plugin, built with cc and the plugin header only."""
    path = tmp_path_factory.mktemp("plugins") / "faulty.so"
    return compile_plugin(ROOT / "Tests" / "cli" / "plugins" / "faulty.c", path)


def manifest(tmp_path, ids):
    m = tmp_path / "docs.jsonl"
    m.write_text("".join(json.dumps({"id": i}) + "\n" for i in ids))
    return m


def run_reaped(tmp_path, *args, timeout=120, interrupt_when=None):
    """Runs batchhost under subreaper.py; returns (exit code, stdout, stderr, strays).
    With interrupt_when, interrupts it twice once that text is on its stderr."""
    report = tmp_path / "reaper.json"
    env = dict(os.environ)
    env.pop("BATCHCORE_PLUGIN_PATH", None)
    proc = subprocess.Popen([sys.executable, str(SUBREAPER), str(report), str(BATCHHOST), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = LineReader(proc.stdout), LineReader(proc.stderr)
    if interrupt_when is not None:
        err.wait_for(interrupt_when)
        proc.send_signal(signal.SIGINT)
        err.wait_for("interrupted")
        proc.send_signal(signal.SIGINT)
    proc.wait(timeout=timeout)
    data = json.loads(report.read_text())
    return data["code"], out.text(), err.text(), data["strays"]


def by_id(out):
    return {r["id"]: r for r in (json.loads(line) for line in out.splitlines() if line.strip())}


def test_crashes_aborts_and_hangs_cost_their_documents_only(tmp_path, faulty):
    ids = [f"ok-{i:02d}" for i in range(30)] + ["crash-1", "crash-2", "abort-1", "hang-1", "exit-1"]
    # A timeout no ok document comes near, even on a loaded machine.
    code, out, err, strays = run_reaped(
        tmp_path, "run", "--manifest", manifest(tmp_path, ids), "-p", faulty, "-w", "3",
        "--isolation", "process", "-O", "timeout=2s", "-O", "timeout.grace=200ms",
        "-O", "retry.attempts=2", "-O", "retry.base=10ms")
    assert code == 1, err
    results = by_id(out)
    assert len(results) == len(ids)
    worker_pids = set()
    for i in ids[:30]:
        assert results[i]["status"] == "ok", (i, results[i]["error"])
        assert results[i]["output"]["id"] == i and results[i]["input_tokens"] == 3
        worker_pids.add(results[i]["output"]["pid"])
    # Worker processes ran the plugin, never batchhost itself.
    batchhost_pid = json.loads((tmp_path / "reaper.json").read_text())["pid"]
    assert worker_pids and batchhost_pid not in worker_pids and os.getpid() not in worker_pids
    for i, error in [("crash-1", "worker crashed: SIGSEGV"), ("crash-2", "worker crashed: SIGSEGV"),
                     ("abort-1", "worker crashed: SIGABRT"), ("hang-1", "timed out after 2s"),
                     ("exit-1", "worker exited with status 7")]:
        assert results[i]["status"] == "failed"
        assert results[i]["attempts"] == 2
        assert results[i]["error"].startswith(f"gave up after 2 attempts: {error}"), results[i]
    assert "30 ok" in err and "5 failed" in err
    assert strays == [], "worker processes left behind"


def test_thread_mode_crash_takes_the_host_down(tmp_path, faulty):
    r = run("run", "--manifest", manifest(tmp_path, ["ok-1", "crash-1"]), "-p", faulty, "-w", "1")
    assert r.code == -signal.SIGSEGV, r


def test_workers_are_recycled_after_max_documents(tmp_path, faulty):
    ids = [f"ok-{i:02d}" for i in range(20)]
    r = run("run", "--manifest", manifest(tmp_path, ids), "-p", faulty, "-w", "1",
            "-O", "isolation=process", "-O", "worker.max_documents=5")
    assert r.code == 0, r
    pids = [rec["output"]["pid"] for rec in r.records]
    assert len(pids) == 20 and len(set(pids)) == 4
    # In order on one worker: five documents per process.
    assert [pids.count(p) for p in dict.fromkeys(pids)] == [5, 5, 5, 5]


def test_memory_limit_breach_fails_clearly_and_others_succeed(tmp_path, faulty):
    ids = [f"ok-{i:02d}" for i in range(6)] + ["leak-1"]
    code, out, err, strays = run_reaped(
        tmp_path, "run", "--manifest", manifest(tmp_path, ids), "-p", faulty, "-w", "2",
        "-O", "isolation=process", "-O", "worker.memory_limit=256MB",
        "-O", "retry.attempts=2", "-O", "retry.base=10ms", timeout=60)
    assert code == 1, err
    results = by_id(out)
    assert all(results[i]["status"] == "ok" for i in ids[:6])
    leak = results["leak-1"]
    assert leak["status"] == "failed"
    assert leak["error"] == "gave up after 2 attempts: worker exceeded worker.memory_limit 256MB (SIGABRT)"
    assert strays == []


def test_logs_and_usage_cross_the_process_boundary(tmp_path, faulty):
    r = run("run", "--manifest", manifest(tmp_path, ["a", "b"]), "-p", faulty, "--set", "log=1",
            "-O", "isolation=process")
    assert r.code == 0, r
    assert "info: faulty: processing a [a]" in r.err and "info: faulty: processing b [b]" in r.err
    assert all(rec["input_tokens"] == 3 and rec["output_tokens"] == 4 for rec in r.records)


def test_results_match_thread_mode_for_plugins_declared_processors_and_exec(tmp_path):
    samples = ROOT / "samples"
    for processor in (["-p", "text"], ["-p", "crc32"], ["--", "wc", "-c", "{}"]):
        outputs = {}
        for mode in ("thread", "process"):
            r = run("run", samples, "--glob", "*.txt", "-w", "3", "-O", f"isolation={mode}", *processor)
            assert r.code == 0, r
            outputs[mode] = {rec["id"]: rec["output"] for rec in r.records}
        assert len(outputs["process"]) == 36 and outputs["process"] == outputs["thread"], processor


def test_a_two_stage_pipeline_runs_in_workers(tmp_path):
    r = run("run", ROOT / "samples", "--glob", "*.txt", "-p", "text", "-p", "crc32", "--isolation", "process")
    assert r.code == 0, r
    assert len(r.records) == 36 and all(rec["status"] == "ok" for rec in r.records)
    # crc32 ran on the text stage's output (its exact bytes, passed on by cat), not on the file.
    texts = run("run", ROOT / "samples", "--glob", "*.txt", "-p", "text", "-p", "exec", "--set", "command=cat")
    assert texts.code == 0, texts
    text_output = {rec["id"]: rec["output"].encode() for rec in texts.records}
    for rec in r.records:
        assert rec["output"] == f"{zlib.crc32(text_output[rec['id']]):08x}", rec
        assert rec["output"] != f"{zlib.crc32(Path(rec['path']).read_bytes()):08x}"


def test_create_refusal_stops_the_batch_before_it_starts(tmp_path):
    bad = compile_plugin(ROOT / "Tests" / "c" / "plugins" / "bad_create.c", tmp_path / "bad_create.so")
    r = run("run", ROOT / "samples", "-p", bad, "-O", "isolation=process")
    assert r.code == 2, r
    assert "refused to start" in r.err


def test_missing_worker_executable_is_a_clear_error(tmp_path, faulty):
    r = run("run", "--manifest", manifest(tmp_path, ["a"]), "-p", faulty, "-O", "isolation=process",
            env={"BATCHCORE_WORKER": str(tmp_path / "nope")})
    assert r.code == 2, r
    assert "BATCHCORE_WORKER" in r.err and "not an executable" in r.err


def test_bad_isolation_value_names_the_choices(tmp_path, faulty):
    r = run("run", "--manifest", manifest(tmp_path, ["a"]), "-p", faulty, "-O", "isolation=fork")
    assert r.code == 2, r
    assert "invalid value 'fork' for option 'isolation': expected thread, process or auto" in r.err


def test_interrupting_twice_stops_a_hung_worker(tmp_path, faulty):
    ids = ["hang-1"] + [f"ok-{i}" for i in range(5)]
    # Once the last ok document is done, only hang-1 (dispatched first) is in flight.
    code, out, err, strays = run_reaped(
        tmp_path, "run", "--manifest", manifest(tmp_path, ids), "-p", faulty, "--set", "log=1", "-w", "2",
        "-O", "isolation=process", "-O", "timeout.grace=200ms", interrupt_when="processing ok-4", timeout=60)
    assert code == 3, err
    results = by_id(out)
    assert "hang-1" not in results  # in flight when stopped: it stays pending
    # ok-0 to ok-3 had finished (ok-4 may have been stopped in flight).
    assert {f"ok-{i}" for i in range(4)} <= set(results) and all(r["status"] == "ok" for r in results.values())
    assert strays == []


def test_worker_executable_sits_beside_the_library():
    assert (BUILD / "batchcore-worker").exists()
    r = subprocess.run([str(BUILD / "batchcore-worker")], capture_output=True, text=True)
    assert r.returncode == 2 and "not meant to be run by hand" in r.stderr


# ---- prepare(): one-time work shared by every create() ---------------------

@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugins") / "prepared.so"
    return compile_plugin(ROOT / "Tests" / "cli" / "plugins" / "prepared.c", path)


def log_lines(path):
    return [line.split(" ", 2) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_prepare_runs_once_in_the_engine_and_every_create_gets_its_bytes(tmp_path, prepared, docs, isolation):
    log = tmp_path / "calls.log"
    r = run("run", docs, "-p", prepared, "--set", f"log={log}", "-w", "3", "--isolation", isolation)
    assert r.code == 0, r
    lines = log_lines(log)
    prepares = [l for l in lines if l[0] == "prepare"]
    creates = [l for l in lines if l[0] == "create"]
    assert len(prepares) == 1, lines
    engine_pid = prepares[0][1]
    research = f"research by {engine_pid}"
    assert creates and all(c[2] == research for c in creates), lines
    assert all(rec["output"]["shared"] == research for rec in r.records)
    worker_pids = {c[1] for c in creates}
    if isolation == "thread":
        assert worker_pids == {engine_pid} and len(creates) == 1
    else:
        # Each worker process ran create() with the engine's bytes, not prepare() again.
        assert engine_pid not in worker_pids and len(worker_pids) >= 2, lines


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_resumed_batch_gets_prepare_from_the_journal_unless_told_to_prepare_again(tmp_path, prepared, docs, isolation):
    log = tmp_path / "calls.log"
    out = tmp_path / "out.jsonl"
    common = ["run", docs, "-p", prepared, "--set", f"log={log}", "-w", "2", "--isolation", isolation, "-o", out]
    assert run(*common).code == 0
    research = f"research by {log_lines(log)[0][1]}"
    r = run(*common, "--resume")
    assert r.code == 0, r
    lines = log_lines(log)
    assert [l[0] for l in lines].count("prepare") == 1, lines
    # This run's create() calls still received the first run's bytes.
    assert lines[-1][0] == "create" and lines[-1][2] == research, lines
    r = run(*common, "--resume", "--set", "prepared.prepare_again=true")
    assert r.code == 0, r
    assert [l[0] for l in log_lines(log)].count("prepare") == 2
    r = run(*common, "--resume")
    assert r.code == 0 and [l[0] for l in log_lines(log)].count("prepare") == 2, r


def test_a_failing_prepare_refuses_the_batch_with_its_message(tmp_path, prepared, docs):
    r = run("run", docs, "-p", prepared, "--set", "refuse=prepare", "--isolation", "process")
    assert r.code == 2, r
    assert "plugin 'prepared' refused to start: the research failed" in r.err, r.err
    assert r.records == []
