"""Remote inputs: http://, https:// and s3:// documents, fetched with libcurl
before the first stage, from a local HTTP server and moto's S3 server."""
import email.utils
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import BATCHHOST, read_jsonl, run, wait_for
from remote_servers import DocumentServer, MotoS3

FAST_RETRY = ["-O", "retry.base=1ms", "-O", "retry.max=1ms"]


@pytest.fixture(scope="module")
def web():
    server = DocumentServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def s3():
    server = MotoS3()
    yield server
    server.close()


@pytest.fixture
def bucket(s3, request):
    """A fresh bucket for one test."""
    name = "t-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:16]
    s3.client.create_bucket(Bucket=name)
    return name


def sha(data):
    return hashlib.sha256(data).hexdigest()


def by_id(records):
    return {r["id"]: r for r in records}


def test_urls_work_on_the_command_line_in_manifests_and_in_lists(web, tmp_path):
    for name in ("cli", "manifest", "list"):
        web.put(f"/where/{name}.txt", f"fetched for the {name}\n".encode())
    (tmp_path / "local.txt").write_bytes(b"a local file\n")
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"path": f"{web.url}/where/manifest.txt"}) + "\n" + json.dumps({"path": "local.txt"}) + "\n")
    r = run("run", f"{web.url}/where/cli.txt", "-", "--manifest", tmp_path / "m.jsonl", "-p", "text", "-o", "-",
            stdin=f"{web.url}/where/list.txt\n")
    assert r.code == 0, r
    records = by_id(r.records)
    for name in ("cli", "manifest", "list"):
        url = f"{web.url}/where/{name}.txt"
        assert records[url]["path"] == url  # the id and path stay the URL
        assert records[url]["output"]["sha256"] == sha(f"fetched for the {name}\n".encode())
    assert records["local.txt"]["status"] == "ok"


def test_a_503_and_a_429_are_retried_after_their_retry_after_then_succeed(web):
    web.put("/flaky.txt", b"third time lucky\n")
    web.fail("/flaky.txt", (503, {"Retry-After": "0"}), (429, {"Retry-After": "0"}))
    # A backoff of an hour: only Retry-After: 0 lets the retries happen in this test's time.
    r = run("run", f"{web.url}/flaky.txt", "-p", "text", "-o", "-",
            "-O", "retry.base=1h", "-O", "retry.jitter=false", timeout=60)
    assert r.code == 0, r
    [record] = r.records
    assert record["status"] == "ok" and record["attempts"] == 3, record
    assert record["output"]["sha256"] == sha(b"third time lucky\n")
    assert web.count("/flaky.txt") == 3


def test_a_retry_after_given_as_an_http_date_is_honoured(web):
    web.put("/dated.txt", b"after the date\n")
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    future = email.utils.formatdate(time.time() + 3, usegmt=True)  # whole seconds: 2 to 3 s from now
    web.fail("/dated.txt", (503, {"Retry-After": past}), (429, {"Retry-After": future}))
    # A backoff of an hour: only the dates can let the retries happen in this test's time.
    r = run("run", f"{web.url}/dated.txt", "-p", "text", "-o", "-",
            "-O", "retry.base=1h", "-O", "retry.jitter=false", timeout=60)
    assert r.code == 0, r
    [record] = r.records
    assert record["status"] == "ok" and record["attempts"] == 3, record
    _, second, third = web.times("/dated.txt")
    assert third - second >= 1.5, "the third request came before the date the second answer gave"


def test_a_404_or_403_fails_just_that_document_naming_the_url_without_secrets(web):
    web.put("/fine.txt", b"fine\n")
    web.put("/secret.txt", b"hidden\n")
    web.fail("/secret.txt?token=hunter2", (403, {}))
    host = web.url.removeprefix("http://")
    forbidden = f"http://user:pa55word@{host}/secret.txt?token=hunter2"
    r = run("run", f"{web.url}/fine.txt", f"{web.url}/gone.txt", forbidden, "-p", "text", "-o", "-", *FAST_RETRY)
    assert r.code == 1, r
    records = by_id(r.records)
    assert records[f"{web.url}/fine.txt"]["status"] == "ok"
    gone = records[f"{web.url}/gone.txt"]
    assert gone["status"] == "failed" and gone["attempts"] == 1
    assert f"'{web.url}/gone.txt'" in gone["error"] and "HTTP 404" in gone["error"]
    denied = records[forbidden]["error"]
    assert f"'http://***@{host}/secret.txt?token=***'" in denied and "HTTP 403" in denied, denied
    assert "pa55word" not in denied and "hunter2" not in denied  # the id is the URL as given; messages mask it


def test_one_worker_reuses_its_connection(web):
    paths = [f"/reuse/{i}.txt" for i in range(4)]
    for path in paths:
        web.put(path, path.encode())
    r = run("run", *[web.url + path for path in paths], "-p", "text", "-o", "-", "-s")
    assert r.code == 0, r
    assert len({web.clients[path] for path in paths}) == 1  # one keep-alive connection for all


def test_the_fetch_limiter_lets_every_document_through(web):
    paths = [f"/limited/{i}.txt" for i in range(3)]
    for path in paths:
        web.put(path, b"x")
    r = run("run", *[web.url + path for path in paths], "-p", "text", "-o", "-", "-O", "fetch.rate_limit=1000/s")
    assert r.code == 0 and len(r.records) == 3, r
    bad = run("run", web.url + paths[0], "-p", "text", "-O", "fetch.rate_limit=fast")
    assert bad.code == 2 and "fetch.rate_limit" in bad.err, bad


def test_a_refused_connection_is_retried_then_fails(web):
    from redis_server import free_port
    url = f"http://127.0.0.1:{free_port()}/nobody-listens.txt"
    r = run("run", url, "-p", "text", "-o", "-", "-O", "retry.attempts=2", *FAST_RETRY)
    assert r.code == 1, r
    [record] = r.records
    assert record["attempts"] == 2
    assert record["error"].startswith(f"gave up after 2 attempts: fetching '{url}' failed:"), record


def test_a_large_document_goes_to_a_temporary_file_removed_after(web, tmp_path):
    big = bytes(range(256)) * 400
    web.put("/big.bin", big)
    web.put("/small.bin", b"tiny")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = run("run", f"{web.url}/big.bin", f"{web.url}/small.bin", "-o", "-", "-O", "fetch.memory_max=1000",
            "--", "sh", "-c", 'echo "$1"; sha256sum < "$1"', "sh", "{}", env={"TMPDIR": str(tmp)})
    assert r.code == 0, r
    records = by_id(r.records)
    big_path, big_sum = records[f"{web.url}/big.bin"]["output"].split("\n")[:2]
    assert big_path.startswith(f"{tmp}/batchcore-fetch.") and big_sum.startswith(sha(big))
    assert records[f"{web.url}/small.bin"]["output"].split("\n")[1].startswith(sha(b"tiny"))
    assert list(tmp.iterdir()) == []  # every temporary file is gone


def test_worker_processes_see_fetched_documents_too(web):
    web.put("/isolated/small.txt", b"small\n")
    web.put("/isolated/large.txt", b"large " * 100)
    r = run("run", f"{web.url}/isolated/small.txt", f"{web.url}/isolated/large.txt", "-p", "text", "-o", "-",
            "--isolation", "process", "-O", "fetch.memory_max=100")
    assert r.code == 0, r
    assert {rec["id"]: rec["output"]["sha256"] for rec in r.records} == {
        f"{web.url}/isolated/small.txt": sha(b"small\n"), f"{web.url}/isolated/large.txt": sha(b"large " * 100)}


def test_identical_remote_content_is_deduplicated(web, tmp_path):
    web.put("/same-1.txt", b"twins\n")
    web.put("/same-2.txt", b"twins\n")
    r = run("run", f"{web.url}/same-1.txt", f"{web.url}/same-2.txt", "-p", "text", "-o", tmp_path / "out.jsonl",
            "-c", tmp_path / "j", "--dedupe", "-s")
    assert r.code == 0, r
    second = by_id(read_jsonl(tmp_path / "out.jsonl"))[f"{web.url}/same-2.txt"]
    assert second["status"] == "ok" and second.get("duplicate_of") == f"{web.url}/same-1.txt", second


def test_a_mixed_manifest_fails_in_part_then_resumes_each_document_once(web, s3, bucket, tmp_path):
    s3.client.put_object(Bucket=bucket, Key="there.txt", Body=b"in the bucket\n")
    web.put("/mixed/ok.txt", b"served\n")
    web.put("/mixed/flaky.txt", b"served at last\n")
    web.fail("/mixed/flaky.txt", *[(500, {})] * 2)
    (tmp_path / "local.txt").write_bytes(b"on disk\n")
    entries = [{"id": "local", "path": "local.txt"}, {"id": "web", "path": f"{web.url}/mixed/ok.txt"},
               {"id": "flaky", "path": f"{web.url}/mixed/flaky.txt"},
               {"id": "s3", "path": f"s3://{bucket}/there.txt"}, {"id": "late", "path": f"s3://{bucket}/late.txt"}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    args = ["run", "--manifest", tmp_path / "m.jsonl", "-p", "text", "-o", tmp_path / "out.jsonl",
            "-c", tmp_path / "run.journal", "-O", "retry.attempts=2", *FAST_RETRY]
    first = run(*args, env=s3.env)
    assert first.code == 1, first
    status = {r["id"]: r["status"] for r in read_jsonl(tmp_path / "out.jsonl")}
    assert status == {"local": "ok", "web": "ok", "flaky": "failed", "s3": "ok", "late": "failed"}, status

    s3.client.put_object(Bucket=bucket, Key="late.txt", Body=b"arrived\n")
    again = run(*args, "--resume", "--retry-failed", env=s3.env)
    assert again.code == 0, again
    records = read_jsonl(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in records) == ["flaky", "late", "local", "s3", "web"]  # each once
    assert {r["id"]: r["output"]["sha256"] for r in records} == {
        "local": sha(b"on disk\n"), "web": sha(b"served\n"), "flaky": sha(b"served at last\n"),
        "s3": sha(b"in the bucket\n"), "late": sha(b"arrived\n")}
    assert web.count("/mixed/ok.txt") == 1  # finished documents are not fetched again
    assert "changed at their source" not in again.err


def test_killed_while_fetching_then_resumed_each_document_once(web, s3, bucket, tmp_path):
    s3.client.put_object(Bucket=bucket, Key="one.txt", Body=b"s3 one\n")
    s3.client.put_object(Bucket=bucket, Key="two.txt", Body=b"s3 two\n")
    web.put("/killed/first.txt", b"web first\n")
    web.put("/killed/held.txt", b"web held\n")
    release = web.hold("/killed/held.txt")
    (tmp_path / "local.txt").write_bytes(b"on disk\n")
    paths = ["local.txt", f"{web.url}/killed/first.txt", f"s3://{bucket}/one.txt", f"{web.url}/killed/held.txt",
             f"s3://{bucket}/two.txt"]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"path": p}) + "\n" for p in paths))
    args = ["run", "--manifest", tmp_path / "m.jsonl", "-p", "text", "-s", "-o", tmp_path / "out.jsonl",
            "-c", tmp_path / "run.journal", "-O", "checkpoint.every=1", "-q"]
    env = {**os.environ, **s3.env}
    proc = subprocess.Popen([str(BATCHHOST), *map(str, args)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: web.count("/killed/held.txt") == 1, "the held document's fetch")
        wait_for(lambda: (tmp_path / "out.jsonl").exists() and len(read_jsonl(tmp_path / "out.jsonl")) == 3,
                 "the first three results")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = run(*args, "--resume", env=s3.env)
    assert r.code == 0, r
    records = read_jsonl(tmp_path / "out.jsonl")
    assert sorted(rec["id"] for rec in records) == sorted(paths)  # each exactly once
    assert all(rec["status"] == "ok" for rec in records), records
    assert web.count("/killed/first.txt") == 1 and web.count("/killed/held.txt") == 2


def test_a_changed_etag_is_reported_on_resume_and_the_result_kept(web, tmp_path):
    web.put("/versioned.txt", b"version one\n", etag='"v1"')
    web.put("/steady.txt", b"steady\n", etag='"s1"')
    web.put("/later.txt", b"later\n")
    web.fail("/later.txt", (404, {}))
    args = ["run", f"{web.url}/versioned.txt", f"{web.url}/steady.txt", f"{web.url}/later.txt", "-p", "text",
            "-o", tmp_path / "out.jsonl", "-c", tmp_path / "run.journal"]
    assert run(*args).code == 1
    journal = sqlite3.connect(tmp_path / "run.journal")
    assert journal.execute("SELECT source_version FROM documents WHERE id = ?",
                           (f"{web.url}/versioned.txt",)).fetchone() == ('"v1"',)
    journal.close()

    web.put("/versioned.txt", b"version two\n", etag='"v2"')
    web.fail("/steady.txt", (404, {}))  # gone for the resume's check
    r = run(*args, "--resume", "--retry-failed")
    assert r.code == 0, r
    warnings = [line for line in r.err.splitlines() if "the earlier result is kept" in line]
    assert len(warnings) == 2, r.err
    [changed] = [w for w in warnings if f"'{web.url}/versioned.txt' changed at its source" in w]
    assert '"v1" then, "v2" now' in changed
    assert any(f"'{web.url}/steady.txt' is no longer at its source" in w and "HTTP 404" in w for w in warnings)
    assert "2 changed at their source since (earlier results kept)" in r.err
    kept = by_id(read_jsonl(tmp_path / "out.jsonl"))[f"{web.url}/versioned.txt"]
    assert kept["output"]["sha256"] == sha(b"version one\n")
    assert web.count("/versioned.txt") == 1


def test_the_resume_check_of_finished_documents_goes_through_the_fetch_limiter(web, tmp_path):
    paths = [f"/checked/{i}.txt" for i in range(10)]
    for path in paths:
        web.put(path, path.encode())
    args = ["run", *[web.url + path for path in paths], "-p", "text", "-w", "4",
            "-o", tmp_path / "out.jsonl", "-c", tmp_path / "run.journal"]
    assert run(*args).code == 0
    r = run(*args, "--resume", "-O", "fetch.rate_limit=5/s", timeout=60)
    assert r.code == 0, r
    heads = sorted(t for path in paths for t in web.times(path, "HEAD"))
    assert len(heads) == len(paths)
    # 5/s spaces the 10 HEADs 0.2 s apart: 1.8 s from the first to the last,
    # less only by how late the first one came; unlimited, a few ms.
    assert heads[-1] - heads[0] >= 0.9, [round(t - heads[0], 3) for t in heads]


def test_a_retry_after_answered_to_the_resume_check_pauses_the_fetches(web, tmp_path):
    web.put("/done.txt", b"done\n")
    web.put("/todo.txt", b"to do\n")
    web.fail("/todo.txt", (404, {}))
    args = ["run", f"{web.url}/done.txt", f"{web.url}/todo.txt", "-p", "text", "-w", "1",
            "-o", tmp_path / "out.jsonl", "-c", tmp_path / "run.journal", "-O", "fetch.rate_limit=1000/s"]
    assert run(*args).code == 1
    web.fail("/done.txt", (429, {"Retry-After": "2"}))  # the resume's HEAD of the finished one
    r = run(*args, "--resume", "--retry-failed", timeout=60)
    assert r.code == 0, r
    [head] = web.times("/done.txt", "HEAD")
    fetch = web.times("/todo.txt")[-1]
    assert fetch - head >= 1.5, f"the fetch came {fetch - head:.3f} s after the 429"


def test_an_s3_prefix_is_listed_page_by_page_in_order(s3, bucket):
    keys = [f"in/doc-{i:02}.txt" for i in range(7)] + ["in/folder/", "out/not-me.txt"]
    for key in keys:
        s3.client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    r = run("run", f"s3://{bucket}/in/", "-p", "text", "-o", "-", "-s", "-O", "s3.page_size=3", env=s3.env)
    assert r.code == 0, r
    assert [rec["id"] for rec in r.records] == [f"s3://{bucket}/in/doc-{i:02}.txt" for i in range(7)]
    assert all(rec["output"]["sha256"] == sha(rec["id"].split("/", 3)[3].encode()) for rec in r.records)


def test_odd_bytes_in_s3_keys_are_encoded(s3, bucket):
    keys = ["odd/with space.txt", "odd/plus+sign.txt", "odd/per%25cent.txt", "odd/ünïcødé ☃.txt",
            "odd/amp&lt;.txt", "odd/q?x=1#h.txt"]
    for key in keys:
        s3.client.put_object(Bucket=bucket, Key=key, Body=f"body of {key}".encode())
    listed = run("run", f"s3://{bucket}/odd/", "-p", "text", "-o", "-", env=s3.env)
    single = run("run", *[f"s3://{bucket}/{key}" for key in keys], "-p", "text", "-o", "-", env=s3.env)
    for r in (listed, single):
        assert r.code == 0, r
        outputs = {rec["id"]: rec["output"]["sha256"] for rec in r.records}
        assert outputs == {f"s3://{bucket}/{key}": sha(f"body of {key}".encode()) for key in keys}


def test_a_missing_s3_object_fails_with_its_code(s3, bucket):
    r = run("run", f"s3://{bucket}/nothing-here.txt", "-p", "text", "-o", "-", env=s3.env)
    assert r.code == 1, r
    [record] = r.records
    assert "HTTP 404 (NoSuchKey)" in record["error"] and f"'s3://{bucket}/nothing-here.txt'" in record["error"]


def test_s3_secrets_never_appear_in_outputs_logs_or_the_journal(s3, bucket, tmp_path):
    s3.client.put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    r = run("run", f"s3://{bucket}/", f"s3://{bucket}/missing.txt", "-p", "text", "-o", tmp_path / "out.jsonl",
            "-c", tmp_path / "run.journal", "--log-file", tmp_path / "run.log", "--progress", "json", env=s3.env)
    assert r.code == 1, r
    files = [tmp_path / "out.jsonl", tmp_path / "run.journal", tmp_path / "run.log"]
    everything = r.out.encode() + r.err.encode() + b"".join(f.read_bytes() for f in files)
    for secret in (MotoS3.SECRET_KEY, MotoS3.SESSION_TOKEN):
        assert secret.encode() not in everything


def test_s3_requests_are_signed_with_sigv4_and_carry_the_session_token(web):
    """The store here is the document server, to see the request; botocore
    recomputes the signature from the signed headers."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    web.put("/signed-bucket/a%20b%2Bc.txt", b"signed\n")
    env = {"AWS_ACCESS_KEY_ID": MotoS3.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": MotoS3.SECRET_KEY,
           "AWS_SESSION_TOKEN": MotoS3.SESSION_TOKEN, "AWS_REGION": "eu-west-3", "AWS_ENDPOINT_URL": web.url}
    r = run("run", "s3://signed-bucket/a b+c.txt", "-p", "text", "-o", "-", env=env)
    assert r.code == 0, r
    [(method, path, headers)] = [q for q in web.requests if q[1] == "/signed-bucket/a%20b%2Bc.txt"]
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["x-amz-security-token"] == MotoS3.SESSION_TOKEN
    authorization = headers["authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={MotoS3.ACCESS_KEY}/")
    assert "/eu-west-3/s3/aws4_request" in authorization
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amz-security-token" in signed

    request = AWSRequest(method=method, url=web.url + path, headers={h: headers[h] for h in signed})
    request.context["timestamp"] = headers["x-amz-date"]
    auth = S3SigV4Auth(Credentials(MotoS3.ACCESS_KEY, MotoS3.SECRET_KEY, MotoS3.SESSION_TOKEN), "s3", "eu-west-3")
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    assert authorization.endswith(f"Signature={expected}"), (canonical, authorization)
