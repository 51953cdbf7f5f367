"""The live progress line under a real pseudo-terminal, and what batchhost
prints when a run ends: the JSON summary, the budget's advice, the wording.

The terminal tests run batchhost on a pty of a given width and replay what it
wrote through a small terminal model (`Screen`: printable text, CR, LF,
autowrap at the last column, ESC[K), then read the final screen."""
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import BATCHHOST, read_jsonl, run


def manifest(tmp_path, n, prefix="d"):
    m = tmp_path / "docs.jsonl"
    m.write_text("".join(json.dumps({"id": f"{prefix}{i:02d}", "path": "/dev/null"}) + "\n" for i in range(n)))
    return m


class Screen:
    """A terminal `columns` wide with unlimited rows, as xterm draws: a
    character in the last column leaves the cursor there until the next one
    wraps to a new row; CR and ESC[K cancel that pending wrap."""

    def __init__(self, columns):
        self.columns = columns
        self.rows = [[" "] * columns]
        self.continued = [False]  # the row holds the rest of a wrapped line
        self.row = self.col = 0
        self.pending = False

    def feed(self, text):
        i = 0
        while i < len(text):
            if text[i] == "\x1b":
                m = re.match(r"\x1b\[([0-9;]*)([A-Za-z])", text[i:])
                assert m and m.group(2) == "K" and m.group(1) in ("", "0"), f"unexpected escape {text[i:i + 8]!r}"
                self.rows[self.row][self.col:] = [" "] * (self.columns - self.col)
                self.pending = False
                i += len(m.group(0))
                continue
            c = text[i]
            if c == "\r":
                self.col, self.pending = 0, False
            elif c == "\n":
                self.down(continued=False)
            else:
                assert c.isprintable(), f"unexpected control character {c!r}"
                if self.pending:
                    self.down(continued=True)
                    self.col = 0
                self.rows[self.row][self.col] = c
                if self.col == self.columns - 1:
                    self.pending = True
                else:
                    self.col += 1
            i += 1

    def down(self, continued):
        self.pending = False
        self.row += 1
        if self.row == len(self.rows):
            self.rows.append([" "] * self.columns)
            self.continued.append(continued)

    def lines(self):
        """The lines on screen, each wrapped line joined again; blank ones dropped."""
        joined = []
        for cells, continued in zip(self.rows, self.continued):
            text = "".join(cells)
            if continued and joined:
                joined[-1] += text
            else:
                joined.append(text)
        return [line.rstrip() for line in joined if line.strip()]


def run_on_terminal(args, columns, until=None, then=None, timeout=60):
    """Runs batchhost with stdin, stdout and stderr on a pty `columns` wide.
    Once `until` (a string) appears in the output, calls `then(process)`.
    Returns the exit code and everything written, as text."""
    controller, terminal = os.openpty()
    fcntl.ioctl(controller, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "BATCHCORE_PLUGIN_PATH")}
    proc = subprocess.Popen([str(BATCHHOST), *map(str, args)], stdin=terminal, stdout=terminal, stderr=terminal,
                            env=env, start_new_session=True)
    os.close(terminal)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every copy of the terminal's end is closed
            break
        if not chunk:
            break
        data += chunk
        if until and until in data.decode(errors="replace"):
            then(proc)
            until = None
    os.close(controller)
    code = proc.wait(timeout=30)
    return code, data.decode()


def progress_draws(raw):
    """Each text the live line was drawn with (between CR and ESC[K)."""
    return [m.group(1) for m in re.finditer(r"\r([^\r\n\x1b]+)\x1b\[K", raw)]


@pytest.mark.parametrize("columns", [80, 40])
def test_live_line_fits_the_terminal_and_results_on_it_stay_whole(tmp_path, counting, columns):
    n = 30
    code, raw = run_on_terminal(
        ["run", "--manifest", manifest(tmp_path, n), "-p", counting, "-w", "2", "--progress", "live",
         "--set", "sleep_us=40000", "--set", "fail=d07", "--set", "usage=1000,200",
         "--price-input", "3", "--price-output", "15"], columns)
    assert code == 1, raw  # d07 fails on purpose
    draws = progress_draws(raw)
    assert len(draws) >= 3, raw
    assert all(len(d) < columns for d in draws), [d for d in draws if len(d) >= columns]
    if columns == 80:
        assert any(re.search(r"\[=+>? *\]", d) and "elapsed" in d for d in draws), draws  # a bar and the time

    lines = screen_lines(raw, columns)
    results = [json.loads(line) for line in lines if line.startswith("{")]
    messages = [line for line in lines if not line.startswith("{")]
    assert sorted(r["id"] for r in results) == [f"d{i:02d}" for i in range(n)], lines
    assert all(m.startswith("batchhost: ") for m in messages), messages  # no stray progress text
    assert [m for m in messages if "failed:" in m] == ["batchhost: failed: d07: failing on purpose"], messages
    assert len([m for m in messages if " documents in " in m]) == 1, messages
    assert len(lines) == len(set(lines)), lines


def screen_lines(raw, columns):
    screen = Screen(columns)
    screen.feed(raw)
    return screen.lines()


def test_interrupt_message_is_shown_once_on_a_narrow_terminal(tmp_path, counting):
    out = tmp_path / "out.jsonl"
    code, raw = run_on_terminal(
        ["run", "--manifest", manifest(tmp_path, 40), "-p", counting, "-w", "1", "--progress", "live",
         "--set", "sleep_us=300000", "--set", "usage=1000,200", "--price-input", "3", "-o", out],
        40, until="3/40", then=lambda proc: proc.send_signal(signal.SIGINT))  # a line with every field
    assert code == 3, raw
    lines = screen_lines(raw, 40)
    assert [line for line in lines if "interrupted" in line] == [
        "batchhost: interrupted: finishing the documents in flight (Ctrl-C again to stop at once)"], lines
    # Only messages: the summary, the advice and its command; no trace of the live line.
    assert all(line.startswith("batchhost: ") or line.startswith("  ") for line in lines), lines
    assert len(lines) == len(set(lines)), lines


def test_live_line_without_a_window_size_fits_COLUMNS(tmp_path, counting):
    env = {k: v for k, v in os.environ.items() if k != "BATCHCORE_PLUGIN_PATH"}
    proc = subprocess.run([str(BATCHHOST), "run", "--manifest", str(manifest(tmp_path, 12)), "-p", str(counting),
                           "--progress", "live", "--set", "sleep_us=100000", "-w", "1", "--set", "usage=1000,200",
                           "--price-input", "3"], capture_output=True, env={**env, "COLUMNS": "30"})
    assert proc.returncode == 0, proc
    draws = progress_draws(proc.stderr.decode())  # bytes: text mode would turn CR into LF
    assert draws and all(len(d) <= 29 for d in draws), draws
    assert all(re.match(r"\d+/12 ", d) for d in draws), draws  # the count is the last field to go


# ---- JSON progress ---------------------------------------------------------------

def test_progress_json_is_json_to_the_end_a_summary_object_last(tmp_path, counting):
    r = run("run", "--manifest", manifest(tmp_path, 10), "-p", counting, "--set", "fail=3",
            "--progress", "json", "-O", "progress.interval=50ms", "--set", "sleep_us=20000")
    assert r.code == 1, r
    objects = [json.loads(line) for line in r.err.splitlines()]  # every line is JSON
    assert {o["type"] for o in objects} <= {"progress", "failed", "summary"}, objects
    assert [o for o in objects if o["type"] == "failed"] == [{"type": "failed", "id": "d03", "error": "failing on purpose"}]
    summary = objects[-1]
    assert summary["type"] == "summary" and summary["state"] == "finished", summary
    assert (summary["done"], summary["ok"], summary["failed"], summary["total"]) == (10, 9, 1, 10)
    assert summary["stopped_by"] is None and summary["error"] is None


def test_progress_json_summary_of_a_budget_stop_carries_the_command_that_goes_on(tmp_path, counting):
    out = tmp_path / "out.jsonl"
    # $0.01 a document, $0.05 of budget: stops near 5 of 20; all 20 would cost $0.20.
    r = run("run", "--manifest", manifest(tmp_path, 20), "-p", counting, "-o", out, "--progress", "json",
            "--set", "usage=1000,0", "--set", "estimate=1000,0", "--price-input", "10", "--budget", "0.05")
    assert r.code == 3, r
    summary = json.loads(r.err.splitlines()[-1])
    assert summary["type"] == "summary" and summary["stopped_by"] == "budget", summary
    assert summary["journal"] == f"{out}.journal" and summary["budget_usd"] == 0.05
    assert summary["next_command"].endswith("--budget 0.22 --resume"), summary  # $0.20 and 10%
    assert summary["run_cost_usd"] == summary["cost_usd"] > 0


# ---- the summary's wording --------------------------------------------------------

def test_summary_speaks_of_docs_per_minute_and_counts_in_the_right_number(tmp_path, counting):
    r = run("run", "--manifest", manifest(tmp_path, 1), "-p", counting, "--set", "throttle=d00")
    assert r.code == 0, r
    assert "1 of 1 document in" in r.err and "1 retry" in r.err, r.err
    assert "retries" not in r.err and "docs/hour" not in r.err and "docs/min" not in r.err, r.err  # under 1 s: no rate

    slow = run("run", "--manifest", manifest(tmp_path, 3), "-p", counting, "--set", "sleep_us=400000", "-w", "1")
    assert slow.code == 0, slow
    assert re.search(r"; \d+(\.\d)? docs/min", slow.err) and "docs/hour" not in slow.err, slow.err


def test_a_timeout_in_process_isolation_is_counted_in_the_summary(tmp_path, counting):
    r = run("run", "--manifest", manifest(tmp_path, 2), "-p", counting, "--isolation", "process",
            "--set", "hang=d01", "--set", "hang_attempts=1", "--timeout", "300ms", "-O", "retry.base=10ms")
    assert r.code == 0, r
    assert "; 1 timeout" in r.err and "; 1 retry" in r.err, r.err


def test_a_document_out_of_its_only_attempt_says_so_in_the_singular(tmp_path, counting):
    r = run("run", "--manifest", manifest(tmp_path, 1), "-p", counting, "--set", "throttle=d00",
            "-O", "retry.attempts=1")
    assert r.code == 1, r
    assert r.records[0]["error"] == "gave up after 1 attempt: 429 too many requests", r.records
