"""The bundled llm plugin, end to end: batchhost -> plugin -> a local mock API."""
import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BATCHHOST, BUILD, LineReader, read_jsonl, run, wait_for
from documents import save_png, scanned_pdf, text_pdf
from mock_llm import MockLLM

KEY = "sk-mock-SECRET-7f3a9c1e5b2d"
ENV = {"MOCK_LLM_KEY": KEY}


@pytest.fixture
def mock():
    server = MockLLM(key=KEY).start()
    yield server
    server.stop()


def llm(mock, provider="openai", model="gpt-4o-mini", **options):
    """Stage flags for the llm plugin pointed at the mock."""
    args = ["-p", "llm", "--set", f"llm.provider={provider}", "--set", f"llm.base_url={mock.base_url}",
            "--set", f"llm.model={model}", "--set", "llm.api_key_env=MOCK_LLM_KEY"]
    for key, value in options.items():
        args += ["--set", f"llm.{key}={value}"]
    return args


def write_docs(directory, texts):
    directory.mkdir(exist_ok=True)
    for i, text in enumerate(texts):
        (directory / f"doc-{i:02d}.txt").write_text(text)
    return directory


def by_user(mock):
    """Requests grouped by the document text they carried."""
    groups = {}
    for r in mock.requests:
        groups.setdefault(r.get("user"), []).append(r)
    return groups


# -- Both APIs, usage ----------------------------------------------------------

@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_every_document_ends_ok_and_usage_adds_up(tmp_path, mock, provider):
    docs = write_docs(tmp_path / "docs", [f"document {i}\n" + "word " * (i * 7) for i in range(12)])
    out = tmp_path / "out.jsonl"
    r = run("run", docs, *llm(mock, provider, system="You are terse."), "-o", out, env=ENV)
    assert r.code == 0, r
    records = read_jsonl(out)
    assert len(records) == 12 and all(rec["status"] == "ok" for rec in records)
    assert all(rec["attempts"] == 1 for rec in records)
    for rec in records:
        text = Path(rec["path"]).read_text()
        assert rec["output"] == f"seen {len(text)} characters"
        assert isinstance(rec["input_tokens"], int) and isinstance(rec["output_tokens"], int)
    sent_in, sent_out = mock.usage()
    assert sum(rec["input_tokens"] for rec in records) == sent_in
    assert sum(rec["output_tokens"] for rec in records) == sent_out

    assert len(mock.requests) == 12
    for req in mock.requests:
        assert req["status"] == 200
        assert req["body"]["model"] == "gpt-4o-mini"
        assert req["system"] == "You are terse."
        if provider == "anthropic":
            assert req["path"] == "/v1/messages"
            assert req["headers"]["x-api-key"] == KEY
            assert req["headers"]["anthropic-version"] == "2023-06-01"
            assert "authorization" not in req["headers"]
            assert req["body"]["max_tokens"] == 1024
        else:
            assert req["path"] == "/v1/chat/completions"
            assert req["headers"]["authorization"] == f"Bearer {KEY}"
            assert "x-api-key" not in req["headers"]
            assert [m["role"] for m in req["body"]["messages"]] == ["system", "user"]
            assert req["body"]["max_tokens"] == 1024


def test_connections_are_reused(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [f"doc {i}" for i in range(20)])
    r = run("run", docs, *llm(mock), "-w", "2", env=ENV)
    assert r.code == 0, r
    ports = {req["port"] for req in mock.requests}
    assert len(mock.requests) == 20 and len(ports) <= 2, ports


def test_input_is_the_previous_stage_output(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["one two three\n"])
    r = run("run", docs, "-p", "text", *llm(mock, prompt="Stats: {text}"), env=ENV)
    assert r.code == 0, r
    user = mock.requests[0]["user"]
    assert user.startswith("Stats: {") and json.loads(user[len("Stats: "):])["words"] == 3


# -- Rate limits and retries ---------------------------------------------------

def test_rate_limit_keeps_the_mock_under_its_limit(tmp_path, mock):
    mock.limit = (10, 1.0)
    docs = write_docs(tmp_path / "docs", [f"doc {i}" for i in range(25)])
    r = run("run", docs, *llm(mock), "-w", "8", "--rate-limit", "10/s", env=ENV)
    assert r.code == 0, r
    assert all(rec["status"] == "ok" and rec["attempts"] == 1 for rec in r.records)
    assert not [req for req in mock.requests if req.get("limited")]
    # And, from the arrival times: never more than 10 in any second (less jitter).
    times = sorted(req["time"] for req in mock.requests)
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u - t < 1.0 - mock.jitter) <= 10


def test_429_retry_after_is_honoured_and_every_document_ends_ok(tmp_path, mock):
    mock.limit = (3, 1.0)  # answers 429 with Retry-After: 1 over the limit
    docs = write_docs(tmp_path / "docs", [f"doc {i}" for i in range(10)])
    r = run("run", docs, *llm(mock), "-w", "8", "-O", "retry.attempts=20", "-O", "retry.base=10ms",
            env=ENV)
    assert r.code == 0, r
    assert all(rec["status"] == "ok" for rec in r.records)
    limited = [req for req in mock.requests if req.get("limited")]
    assert limited, "the mock should have refused some requests"
    for text, reqs in by_user(mock).items():
        for before, after in zip(reqs, reqs[1:]):
            if before.get("limited"):
                assert after["time"] - before["time"] >= 0.95, (text, after["time"] - before["time"])


@pytest.mark.parametrize("status,directive,least", [
    (429, "retry_after=2", 1.95),
    (429, "retry_after_date=2", 0.95),   # HTTP dates have whole seconds
    (503, "retry_after_ms=1500", 1.45),
    (529, "anthropic_reset=1.5", 1.45),
    (429, "openai_reset=1.5s", 1.45),
    (429, "openai_reset=0m1s", 0.95),
])
def test_retry_after_headers(tmp_path, mock, status, directive, least):
    docs = write_docs(tmp_path / "docs", [f"mock:status={status}\nmock:times=1\nmock:{directive}\n"])
    r = run("run", docs, *llm(mock), "-O", "retry.base=10ms", env=ENV)
    assert r.code == 0, r
    assert r.records[0]["attempts"] == 2
    first, second = mock.requests
    assert first["status"] == status and second["status"] == 200
    assert second["time"] - first["time"] >= least


def test_server_errors_and_malformed_replies_are_retried(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["mock:status=500\nmock:times=2\n", "mock:malformed=1\n",
                                          "mock:status=502\nmock:times=1\n"])
    r = run("run", docs, *llm(mock), "-O", "retry.base=10ms", env=ENV)
    assert r.code == 0, r
    attempts = sorted((Path(rec["path"]).name, rec["attempts"], rec["status"]) for rec in r.records)
    assert attempts == [("doc-00.txt", 3, "ok"), ("doc-01.txt", 2, "ok"), ("doc-02.txt", 2, "ok")]


def test_401_fails_fast_without_retries(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [f"doc {i}" for i in range(4)])
    wrong = "sk-mock-WRONG-0000000000"
    r = run("run", docs, *llm(mock), "-O", "retry.base=10ms", env={"MOCK_LLM_KEY": wrong})
    assert r.code == 1, r
    for rec in r.records:
        assert rec["status"] == "failed" and rec["attempts"] == 1
        # The API's own message, with the key it quoted scrubbed.
        assert rec["error"] == "HTTP 401: Incorrect API key provided: ***"
    assert len(mock.requests) == 4
    assert wrong not in r.out and wrong not in r.err


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_fail_with_the_api_message(tmp_path, mock, status):
    docs = write_docs(tmp_path / "docs", [f"mock:status={status}\n"])
    r = run("run", docs, *llm(mock, provider="anthropic"), env=ENV)
    assert r.code == 1, r
    rec = r.records[0]
    assert rec["attempts"] == 1 and rec["error"] == f"HTTP {status}: steered failure {status}"


def test_request_timeout_retries_then_fails(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["mock:sleep=5\n"])
    started = time.monotonic()
    r = run("run", docs, *llm(mock, request_timeout="300ms"), "-O", "retry.attempts=2",
            "-O", "retry.base=10ms", env=ENV)
    assert r.code == 1, r
    assert time.monotonic() - started < 4
    rec = r.records[0]
    assert rec["attempts"] == 2 and "within request_timeout (0.3s)" in rec["error"]


# -- Replies -------------------------------------------------------------------

def test_json_replies(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [
        "plain document\n",
        "mock:reply=this is not JSON at all\n",
        "mock:reply=```json\\n{\"a\": 1}\\n```\n",
    ])
    r = run("run", docs, *llm(mock, json="true"), env=ENV)
    assert r.code == 0, r
    recs = {Path(rec["path"]).name: rec for rec in r.records}
    assert recs["doc-00.txt"]["status"] == "ok"
    assert recs["doc-00.txt"]["output"] == {"length": len("plain document\n")}
    assert recs["doc-01.txt"]["status"] == "partial"
    assert recs["doc-01.txt"]["output"] == "this is not JSON at all"
    assert recs["doc-01.txt"]["error"].startswith("the reply is not valid JSON")
    assert recs["doc-02.txt"]["status"] == "ok" and recs["doc-02.txt"]["output"] == {"a": 1}
    assert all("JSON" in req["system"] for req in mock.requests)


def test_a_reply_cut_at_max_tokens_is_partial(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["mock:finish=length\nmock:reply=half an ans\n"])
    r = run("run", docs, *llm(mock, provider="anthropic", max_tokens="5"), env=ENV)
    assert r.code == 0, r
    rec = r.records[0]
    assert rec["status"] == "partial" and rec["output"] == "half an ans"
    assert rec["error"] == "the reply was cut off at max_tokens (5)"
    assert mock.requests[0]["body"]["max_tokens"] == 5


# -- Prompts -------------------------------------------------------------------

def test_prompt_template_substitution(tmp_path, mock):
    (tmp_path / "a.txt").write_text("Alpha text")
    (tmp_path / "b.txt").write_text("Beta text")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"id": "A", "path": "a.txt", "metadata": {"lang": "fr", "client": {"name": "Ada"}, "n": 3}}) + "\n" +
        json.dumps({"id": "B", "path": "b.txt", "metadata": {"lang": "de"}}) + "\n")
    prompt = 'Doc {id} ({path}) in {metadata.lang} for {metadata.client.name}, n={metadata.n}: {text} {{id}} {"k": 1}'
    r = run("run", "--manifest", manifest, *llm(mock, prompt=prompt), env=ENV)
    assert r.code == 1, r
    recs = {rec["id"]: rec for rec in r.records}
    assert recs["A"]["status"] == "ok"
    [req] = mock.requests
    assert req["user"] == f'Doc A ({tmp_path / "a.txt"}) in fr for Ada, n=3: Alpha text {{id}} {{"k": 1}}'
    # B has no client.name: it fails alone, with what is missing, before any request.
    assert recs["B"]["status"] == "failed" and recs["B"]["attempts"] == 1
    assert recs["B"]["error"] == "document 'B' has no metadata 'client.name' (the prompt uses {metadata.client.name})"


def test_unknown_braces_in_the_prompt_reach_the_model_as_written(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["body"])
    prompt = "Hello {nmae} awk '{print $1}' {metadata.} {{text}} { } }{ {text}"
    r = run("run", docs, *llm(mock, prompt=prompt), env=ENV)
    assert r.code == 0, r
    [req] = mock.requests
    assert req["user"] == "Hello {nmae} awk '{print $1}' {metadata.} {text} { } }{ body"


def test_prompt_and_system_from_files(tmp_path, mock):
    (tmp_path / "prompt.txt").write_text("Summarise {id}:\n{text}\n")
    (tmp_path / "system.txt").write_text("Be brief.")
    docs = write_docs(tmp_path / "docs", ["the text"])
    r = run("run", docs, *llm(mock, prompt=f"@{tmp_path / 'prompt.txt'}", system=f"@{tmp_path / 'system.txt'}"),
            env=ENV)
    assert r.code == 0, r
    req = mock.requests[0]
    assert req["user"] == f"Summarise {docs / 'doc-00.txt'}:\nthe text\n"
    assert req["system"] == "Be brief."


def test_extra_headers_are_sent(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["x"])
    r = run("run", docs, *llm(mock, headers='{"X-Trace": "abc", "OpenAI-Organization": "org-1"}'), env=ENV)
    assert r.code == 0, r
    headers = mock.requests[0]["headers"]
    assert headers["x-trace"] == "abc" and headers["openai-organization"] == "org-1"


# -- Options -------------------------------------------------------------------

@pytest.mark.parametrize("options,message", [
    ({"model": ""}, "option 'model' is required"),
    ({"provider": "gemini"}, "invalid value 'gemini' for option 'provider'"),
    ({"base_url": "ftp://x"}, "invalid value 'ftp://x' for option 'base_url'"),
    ({"max_tokens": "0"}, "invalid value '0' for option 'max_tokens'"),
    ({"temperature": "3"}, "invalid value '3' for option 'temperature'"),
    ({"json": "maybe"}, "invalid value 'maybe' for option 'json'"),
    ({"request_timeout": "soon"}, "invalid value 'soon' for option 'request_timeout'"),
    ({"prompt": "@/nonexistent/prompt.txt"}, "option 'prompt': cannot read '/nonexistent/prompt.txt'"),
    ({"headers": "X-A: b"}, "invalid value for option 'headers'"),
    ({"headers": '{"Bad Name": "x"}'}, "invalid header 'Bad Name' in option 'headers'"),
    ({"temprature": "1"}, "unknown 'llm' option 'temprature'"),
])
def test_bad_options_are_refused_before_anything_runs(tmp_path, mock, options, message):
    docs = write_docs(tmp_path / "docs", ["x"])
    base = {"model": "gpt-4o-mini"}
    base.update(options)
    args = ["-p", "llm", "--set", f"llm.base_url={mock.base_url}", "--set", "llm.api_key_env=MOCK_LLM_KEY"]
    for key, value in base.items():
        args += ["--set", f"llm.{key}={value}"]
    r = run("run", docs, *args, env=ENV)
    assert r.code == 2, r
    assert message in r.err
    assert mock.requests == []


def test_the_key_is_read_from_the_environment_only(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["x"])
    # The default variable, unset, with an https URL: refused, naming the variable.
    r = run("run", docs, "-p", "llm", "--set", "llm.model=gpt-4o-mini", env={"OPENAI_API_KEY": ""})
    assert r.code == 2 and "OPENAI_API_KEY" in r.err and "not set" in r.err, r
    r = run("run", docs, "-p", "llm", "--set", "llm.provider=anthropic", "--set", "llm.model=m",
            env={"ANTHROPIC_API_KEY": ""})
    assert r.code == 2 and "ANTHROPIC_API_KEY" in r.err, r
    # A named variable that is unset is refused even for a local server.
    r = run("run", docs, *llm(mock), env={"MOCK_LLM_KEY": ""})
    assert r.code == 2 and "MOCK_LLM_KEY" in r.err, r
    # A key pasted where the variable's name goes is refused without echoing it,
    # and before any journal records the stage's options.
    out = tmp_path / "pasted.jsonl"
    r = run("run", docs, *llm(mock), "--set", f"llm.api_key_env={KEY}", "-o", out, env=ENV)
    assert r.code == 2 and "not the key itself" in r.err and KEY not in r.err, r
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pasted")]
    # The default variable is used when set.
    args = ["-p", "llm", "--set", f"llm.base_url={mock.base_url}", "--set", "llm.model=m"]
    r = run("run", docs, *args, env={"OPENAI_API_KEY": KEY})
    assert r.code == 0, r
    assert mock.requests[-1]["headers"]["authorization"] == f"Bearer {KEY}"


def test_a_local_server_needs_no_key(tmp_path):
    server = MockLLM(key=None).start()
    try:
        docs = write_docs(tmp_path / "docs", ["x"])
        r = run("run", docs, "-p", "llm", "--set", f"llm.base_url={server.base_url}", "--set", "llm.model=llama3.1",
                env={"OPENAI_API_KEY": ""})
        assert r.code == 0, r
        assert "authorization" not in server.requests[0]["headers"]
    finally:
        server.stop()


# -- Secrets and cancellation --------------------------------------------------

def process_command_lines():
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes())
            except OSError:
                pass
    return lines


def test_the_key_never_leaks(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [f"mock:sleep=1\ndoc {i}" for i in range(4)] +
                      ["mock:status=400\nmock:echo_key=2\n",
                       "mock:status=500\nmock:echo_key=2\nmock:no_message=1\n"])
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, **ENV)
    proc = subprocess.Popen([str(BATCHHOST), "run", docs, *llm(mock), "-o", out, "-O", "retry.attempts=2",
                             "-O", "retry.base=10ms"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while len(mock.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "still running while we look"
    assert not [line for line in process_command_lines() if KEY.encode() in line]
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert mock.requests[-1]["headers"]["authorization"] == f"Bearer {KEY}"  # the key was used

    records = read_jsonl(out)
    errors = sorted(rec["error"] for rec in records if rec["status"] == "failed")
    # Every quote of the key is scrubbed: twice in the message, and in the
    # other fields of an error without a message, where the body is quoted.
    assert errors[0] == "HTTP 400: steered failure 400 for key Bearer *** and again Bearer ***"
    assert errors[1].startswith("gave up after 2 attempts: HTTP 500: {"), errors[1]
    assert errors[1].count("Bearer ***") == 2, errors[1]
    journal = [p for p in tmp_path.iterdir() if p.name.startswith("out.jsonl.journal")]
    assert journal
    for path in [out, *journal]:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in stdout and KEY not in stderr


def test_a_hard_cancel_stops_requests_in_flight(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [f"mock:sleep=30\ndoc {i}" for i in range(3)])
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, **ENV)
    proc = subprocess.Popen([str(BATCHHOST), "run", docs, *llm(mock), "-o", out], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(mock.requests) == 3, "three requests in flight")
    stderr_lines = LineReader(proc.stderr)
    proc.send_signal(signal.SIGINT)
    stderr_lines.wait_for("interrupted")
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    proc.wait(timeout=20)
    stderr = stderr_lines.text()
    # libcurl asks its progress callback about once a second while idle;
    # batchhost gives up on calls after 3 s, so this shows the plugin stopped.
    assert time.monotonic() - started < 2.5, stderr
    assert proc.returncode == 3, stderr
    assert "--resume" in stderr
    assert read_jsonl(out) == []  # nothing finished: all three run again on --resume


# -- Cost and budget -----------------------------------------------------------

def status_json(journal):
    r = run("status", journal, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


def test_cost_adds_up_at_the_plugins_list_price(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [f"document {i} " + "word " * (50 * i) for i in range(8)])
    out = tmp_path / "out.jsonl"
    r = run("run", docs, *llm(mock, model="gpt-4o-mini-2024-07-18"), "-o", out, env=ENV)
    assert r.code == 0, r
    tokens_in, tokens_out = mock.usage()
    expected = (tokens_in * 0.15 + tokens_out * 0.60) / 1e6  # gpt-4o-mini, USD per million tokens
    for rec in read_jsonl(out):
        assert rec["cost_usd"] == pytest.approx((rec["input_tokens"] * 0.15 + rec["output_tokens"] * 0.60) / 1e6)
    status = status_json(f"{out}.journal")
    assert status["input_tokens"] == tokens_in and status["output_tokens"] == tokens_out
    assert status["cost_usd"] == pytest.approx(expected, rel=1e-9)


def test_prices_given_by_the_user_win(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [f"document {i}" for i in range(5)])
    out = tmp_path / "out.jsonl"
    r = run("run", docs, *llm(mock, provider="anthropic", model="claude-3-5-haiku-latest"),
            "--price-input", "1", "--price-output", "2", "-o", out, env=ENV)
    assert r.code == 0, r
    tokens_in, tokens_out = mock.usage()
    assert status_json(f"{out}.journal")["cost_usd"] == pytest.approx((tokens_in + 2 * tokens_out) / 1e6)


def test_a_budget_needs_prices_for_models_the_plugin_does_not_know(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["x"])
    r = run("run", docs, *llm(mock, model="llama3.1"), "--budget", "1", env=ENV)
    assert r.code == 2 and "a budget needs prices" in r.err, r
    assert mock.requests == []
    r = run("run", docs, *llm(mock, model="llama3.1"), "--budget", "1",
            "--price-input", "0", "--price-output", "0", env=ENV)
    assert r.code == 0, r


def test_a_budget_stops_dispatch_and_resumes(tmp_path, mock):
    # A dollar per input token, output free: each document costs exactly the
    # input tokens the mock reports (40 characters: 40 // 4 + 7 = 17).
    docs = write_docs(tmp_path / "docs", [f"document number {i:02d} " + "x" * 21 for i in range(10)])
    out = tmp_path / "out.jsonl"
    prices = ["--price-input", "1000000", "--price-output", "0", "-s", "-o", out]
    r = run("run", docs, *llm(mock), *prices, "--budget", "60", env=ENV)
    assert r.code == 3, r
    assert "budget reached" in r.err
    assert len(mock.requests) == 3  # 17 + 17 + 17 = 51; a fourth would likely pass 60
    assert status_json(f"{out}.journal")["cost_usd"] == pytest.approx(51)
    r = run("run", docs, *llm(mock), *prices, "--budget", "120", "--resume", env=ENV)
    assert r.code == 3, r
    assert len(mock.requests) == 7 and status_json(f"{out}.journal")["cost_usd"] == pytest.approx(119)


def test_a_budget_reserves_the_plugins_estimate_of_max_tokens(tmp_path, mock):
    # A dollar per output token: before any document finished, the plugin's
    # estimate (max_tokens out) says one document may cost $1000.
    docs = write_docs(tmp_path / "docs", ["x"])
    r = run("run", docs, *llm(mock, max_tokens="1000"), "--price-input", "0", "--price-output", "1000000",
            "--budget", "100", env=ENV)
    assert r.code == 3 and "budget reached" in r.err, r
    assert mock.requests == []

# -- The descriptor alone: prices and estimates --------------------------------
# The engine's use of prices and estimates is tested with the engine; here the
# plugin is loaded with ctypes and given a minimal host table, to check what
# it reports through the ABI itself.

CONFIG_GET = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)
SET_PRICES = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_double, ctypes.c_double)


class HostAPI(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("abi_version", ctypes.c_uint32)] + \
        [(name, ctypes.c_void_p) for name in ("set_output", "set_output_json", "set_error", "add_usage",
                                               "retry_after", "is_cancelled", "log")] + \
        [("config_get", CONFIG_GET), ("add_units", ctypes.c_void_p), ("set_prices", SET_PRICES)]


class Doc(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("stage", ctypes.c_uint32), ("attempt", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32), ("id", ctypes.c_char_p), ("path", ctypes.c_char_p),
                ("metadata_json", ctypes.c_char_p), ("input", ctypes.c_char_p), ("input_len", ctypes.c_size_t)]


CREATE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(HostAPI), ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                          ctypes.c_char_p, ctypes.c_size_t)
ESTIMATE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(Doc),
                            ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64))
DESTROY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Descriptor(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("abi_version", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("version", ctypes.c_char_p), ("description", ctypes.c_char_p), ("flags", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32), ("options", ctypes.c_void_p), ("create", CREATE),
                ("process", ctypes.c_void_p), ("destroy", DESTROY), ("estimate", ESTIMATE)]


class Stage:
    """create() of the llm plugin with these options, through the ABI."""

    def __init__(self, **options):
        lib = ctypes.CDLL(str(BUILD / "libbatchcore-llm.so"))
        lib.batchcore_plugin_entry.restype = ctypes.POINTER(Descriptor)
        self.plugin = lib.batchcore_plugin_entry().contents
        self.values = {k.encode(): ctypes.create_string_buffer(v.encode()) for k, v in options.items()}
        self.prices = []
        self.host = HostAPI(struct_size=ctypes.sizeof(HostAPI), abi_version=1,
                            config_get=CONFIG_GET(self._get), set_prices=SET_PRICES(self._prices))
        self.state = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        rc = self.plugin.create(ctypes.byref(self.host), None, ctypes.byref(self.state), err, 512)
        assert rc == 0, err.value

    def _get(self, config, key):
        value = self.values.get(key)
        return ctypes.addressof(value) if value is not None else None

    def _prices(self, config, input_price, output_price):
        self.prices.append((input_price, output_price))
        return 0

    def estimate(self, path=None, text=None):
        doc = Doc(struct_size=ctypes.sizeof(Doc), id=b"d", path=path and str(path).encode(),
                  metadata_json=b"{}", input=text, input_len=len(text or b""))
        tokens_in, tokens_out = ctypes.c_uint64(), ctypes.c_uint64()
        assert self.plugin.estimate(self.state, ctypes.byref(doc), ctypes.byref(tokens_in), ctypes.byref(tokens_out)) == 0
        return tokens_in.value, tokens_out.value

    def close(self):
        self.plugin.destroy(self.state)


@pytest.mark.parametrize("model,prices", [
    ("gpt-4o-mini", [(0.15, 0.60)]),
    ("gpt-4o-mini-2024-07-18", [(0.15, 0.60)]),
    ("gpt-4o-2024-08-06", [(2.50, 10.00)]),
    ("claude-sonnet-4-20250514", [(3.00, 15.00)]),
    ("claude-3-5-haiku-latest", [(0.80, 4.00)]),
    ("gpt-4o-turbo", []),
    ("llama3.1", []),
])
def test_create_reports_list_prices_of_known_models_only(monkeypatch, model, prices):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    stage = Stage(model=model, base_url="http://127.0.0.1:9/v1")
    assert stage.prices == prices
    stage.close()


def test_estimate_counts_prompt_and_document_and_reserves_max_tokens(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"x" * 4000)
    prompt = "Summarise: {text}"  # 17 bytes
    stage = Stage(model="m", base_url="http://127.0.0.1:9/v1", prompt=prompt, max_tokens="300")
    assert stage.estimate(path=doc) == ((4000 + 17 + 3) // 4, 300)
    assert stage.estimate(text=b"y" * 400) == ((400 + 17 + 3) // 4, 300)
    stage.close()
    # Without {text} the document is not sent, so it is not counted.
    stage = Stage(model="m", base_url="http://127.0.0.1:9/v1", prompt="Name a colour for {id}")
    assert stage.estimate(path=doc) == ((22 + 3) // 4, 1024)
    stage.close()


# -- Attachments ------------------------------------------------------------------

PROMPT = "Extract the patient's name as JSON."


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    (d / "letter.pdf").write_bytes(text_pdf([["Dear Ada"], ["Kind regards"]]))
    save_png(d / "note.png", ["HELLO"])
    return d


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("attach, name", [("pdf", "letter.pdf"), ("image", "note.png"),
                                          ("auto", "letter.pdf"), ("auto", "note.png")])
def test_attach_sends_the_file_in_the_documented_block(tmp_path, mock, files, provider, attach, name):
    out = tmp_path / "out.jsonl"
    r = run("run", files, "--glob", name, *llm(mock, provider, attach=attach, prompt=PROMPT), "-o", out, env=ENV)
    assert r.code == 0, r
    assert read_jsonl(out)[0]["status"] == "ok"
    [req] = mock.requests
    assert req["status"] == 200, req  # the mock checked every block's shape
    content = req["body"]["messages"][-1]["content"]
    assert content[-1] == {"type": "text", "text": PROMPT}  # the file first, then the instructions
    [sent] = req["attachments"]
    assert sent["bytes"] == (files / name).read_bytes()
    pdf = name.endswith(".pdf")
    assert sent["media_type"] == ("application/pdf" if pdf else "image/png")
    if provider == "anthropic":
        assert sent["block"] == ("document" if pdf else "image")
        assert content[0]["source"]["type"] == "base64"
    else:
        assert sent["block"] == ("file" if pdf else "image_url")
        if pdf:
            assert sent["filename"] == "letter.pdf"


def test_attach_none_sends_text_and_auto_leaves_text_files_alone(tmp_path, mock, files):
    (files / "plain.txt").write_text("mock:reply=fine")
    for attach, name in [("none", "plain.txt"), ("auto", "plain.txt")]:
        r = run("run", files, "--glob", name, *llm(mock, attach=attach), "-o", tmp_path / f"{attach}.jsonl", env=ENV)
        assert r.code == 0, r
    assert [req["body"]["messages"][-1]["content"] for req in mock.requests] == ["mock:reply=fine"] * 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_limits_and_wrong_kinds_fail_before_any_request(tmp_path, mock, provider):
    files = tmp_path / "limits"
    files.mkdir()
    (files / "long.pdf").write_bytes(text_pdf([[f"page {i}"] for i in range(101)]))
    (files / "big.pdf").write_bytes(b"%PDF-1.4\n" + bytes(25 * 1000 * 1000))  # refused by its size alone
    (files / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(16 * 1000 * 1000))
    (files / "plain.txt").write_text("words")
    for attach, glob in [("pdf", "[blp]*"), ("image", "[hp]*")]:
        out = tmp_path / f"{attach}.jsonl"
        run("run", files, "--glob", glob, *llm(mock, provider, attach=attach), "-o", out, env=ENV)
        recs = {Path(rec["path"]).name: rec for rec in read_jsonl(out)}
        assert all(rec["status"] == "failed" and rec.get("input_tokens", 0) == 0 for rec in recs.values()), recs
        if attach == "pdf":
            assert f"too large to send to {provider}: 101 pages" in recs["long.pdf"]["error"]
            assert f"too large to send to {provider}: 33333348 bytes in base64" in recs["big.pdf"]["error"]
            assert "attach=pdf: " in recs["plain.txt"]["error"] and "is not a PDF" in recs["plain.txt"]["error"]
        else:
            error = recs["huge.png"]["error"]
            assert f"too large to send to {provider}" in error and "per image" in error
            assert "is not a PNG, JPEG, GIF or WebP image" in recs["plain.txt"]["error"]
    assert mock.requests == []


@pytest.mark.parametrize("attach", ["none", "auto"])
def test_empty_input_fails_without_a_request_or_a_charge(tmp_path, mock, attach):
    docs = write_docs(tmp_path / "docs", ["", " \n\t \n", "mock:reply=ok"])
    out = tmp_path / "out.jsonl"
    r = run("run", docs, *llm(mock, attach=attach), "-O", "price.input=1", "-O", "price.output=1",
            "-o", out, env=ENV)
    assert r.code == 1, r
    recs = read_jsonl(out)
    empty = [rec for rec in recs if rec["status"] == "failed"]
    assert len(empty) == 2 and all(rec["error"] == "empty input: nothing to send" for rec in empty)
    assert all(rec["attempts"] == 1 and rec.get("input_tokens", 0) == 0 and not rec.get("cost_usd") for rec in empty)
    assert len(mock.requests) == 1


def test_estimate_counts_attached_pages_and_images(monkeypatch, files):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for provider, per_image in [("openai", 1445), ("anthropic", 1600)]:
        stage = Stage(model="m", provider=provider, base_url="http://127.0.0.1:9/v1", prompt="Read {text}",
                      attach="auto", max_tokens="10")
        fixed = (len("Read {text}") + 3) // 4
        assert stage.estimate(path=files / "letter.pdf") == (fixed + 2 * 3000, 10)
        assert stage.estimate(path=files / "note.png") == (fixed + per_image, 10)
        # A later stage with text: the text goes, not the file.
        assert stage.estimate(path=files / "letter.pdf", text=b"x" * 40) == ((40 + 11 + 3) // 4, 10)
        stage.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_pdf_then_llm_routes_the_scan_as_a_file(tmp_path, mock, provider):
    """-p pdf -p llm attach=auto on a folder with a scan: text PDFs go as
    text, the scan (no text layer, partial in the pdf stage) goes as the PDF."""
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "typed.pdf").write_bytes(text_pdf([["mock:reply={\"patient\": \"Ada\"}"]]))
    scanned_pdf(d / "scanned.pdf", [["PATIENT GRACE HOPPER"]])
    out = tmp_path / "out.jsonl"
    r = run("run", d, "-p", "pdf", *llm(mock, provider, attach="auto", prompt="Patient? {text}"), "-o", out,
            env=ENV)
    assert r.code == 0, r
    recs = {Path(rec["path"]).name: rec for rec in read_jsonl(out)}
    assert recs["typed.pdf"]["status"] == "ok"
    assert recs["scanned.pdf"]["status"] == "partial"  # the pdf stage's flag stays on the record
    assert "no text layer" in recs["scanned.pdf"]["error"]
    sent = {bool(req["attachments"]): req for req in mock.requests}
    assert sent[False]["user"].startswith("Patient? mock:reply=")
    assert sent[True]["attachments"][0]["bytes"] == (d / "scanned.pdf").read_bytes()
    assert sent[True]["user"].strip() == "Patient?"


# -- prepare_prompt: one question per batch stage ------------------------------

def summary(r):
    return json.loads(r.err.strip().splitlines()[-1])


def test_prepare_prompt_is_asked_once_and_its_answer_reaches_every_prompt(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", [f"letter {i}" for i in range(5)])
    out = tmp_path / "out.jsonl"
    stage = llm(mock, model="gpt-4o-mini", prompt="Client facts: {shared}\nLetter: {text}",
                prepare_prompt="Research the client.\nmock:reply=ACME sells anvils")
    prices = ["--price-input", "1000", "--price-output", "2000"]  # large, so the summary's 6 digits are exact
    r = run("run", docs, *stage, "-w", "3", "-o", out, "--progress", "json", *prices, env=ENV)
    assert r.code == 0, r
    prepares = [req for req in mock.requests if req["user"].startswith("Research the client.")]
    letters = [req for req in mock.requests if req["user"].startswith("Client facts:")]
    assert len(prepares) == 1 and len(letters) == 5 and len(mock.requests) == 6
    assert all(req["user"].startswith("Client facts: ACME sells anvils\nLetter: letter ") for req in letters)
    # The prepare call counts in usage and cost.
    tokens_in, tokens_out = mock.usage()
    done = summary(r)
    assert done["input_tokens"] == tokens_in and done["output_tokens"] == tokens_out
    assert done["cost_usd"] == pytest.approx((tokens_in * 1000 + tokens_out * 2000) / 1e6, rel=1e-9)
    assert sum(rec["input_tokens"] for rec in read_jsonl(out)) == tokens_in - prepares[0]["input_tokens"]
    # A resume reuses the answer the journal kept: no second prepare call.
    r = run("run", docs, *stage, "-o", out, "--resume", *prices, env=ENV)
    assert r.code == 0 and len(mock.requests) == 6, r


def test_a_failing_prepare_prompt_stops_the_batch_with_the_api_message(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["letter"])
    r = run("run", docs, *llm(mock, prepare_prompt="Research.\nmock:status=400"), env=ENV)
    assert r.code != 0 and r.records == [], r
    assert "llm: prepare_prompt: HTTP 400" in r.err, r.err


def test_the_prepare_call_counts_against_the_budget(tmp_path, mock):
    docs = write_docs(tmp_path / "docs", ["letter"])
    # A document would likely cost $0.06 (max_tokens 5); the research alone cost about $1.
    stage = llm(mock, prompt="{shared} {text}", max_tokens="5", prepare_prompt="Research.\nmock:reply=" + "x" * 400)
    r = run("run", docs, *stage, "-o", tmp_path / "out.jsonl", "--progress", "json", "--price-input", "1000",
            "--price-output", "10000", "--budget", "0.5", env=ENV)
    assert r.code == 3, r
    assert len(mock.requests) == 1 and summary(r)["stopped_by"] == "budget", r
    assert summary(r)["cost_usd"] > 0.5
