"""Distributed commands refuse a bad URL, an unreachable server, a wrong password and an evicting server."""
import pytest

from conftest import run
from distributed import make_docs
from redis_server import RedisServer, free_port


def submit_to(url, tmp_path):
    return run("submit", "--redis", url, str(make_docs(tmp_path / "docs", 2)), "--", "cat", "{}")


@pytest.mark.parametrize("command", [["submit", "/etc/hostname", "--", "cat", "{}"], ["worker"], ["status"],
                                     ["collect", "b-1"], ["cancel", "b-1"], ["retry-failed", "b-1"]])
def test_a_bad_url_is_a_usage_error(command):
    result = run(command[0], "--redis", "http://localhost:6379", *command[1:])
    assert result.code == 2, result
    assert "batchhost:" in result.err and "redis://" in result.err


def test_a_refused_connection_is_reported_with_exit_2(tmp_path):
    result = submit_to(f"redis://127.0.0.1:{free_port()}", tmp_path)
    assert result.code == 2, result
    assert "cannot connect" in result.err and "batchhost:" in result.err


def test_a_wrong_password_is_reported_without_printing_it(tmp_path):
    with RedisServer(extra=["--requirepass", "right"]) as server:
        result = submit_to(f"redis://:wrong-pw@127.0.0.1:{server.port}", tmp_path)
    assert result.code == 2, result
    assert "batchhost:" in result.err
    assert "wrong-pw" not in result.err + result.out


def test_an_evicting_server_is_refused_at_submit(tmp_path):
    with RedisServer(extra=["--maxmemory-policy", "allkeys-lru"]) as server:
        result = submit_to(server.url, tmp_path)
    assert result.code == 2, result
    assert "maxmemory-policy allkeys-lru" in result.err and "noeviction" in result.err


def test_no_server_named_is_explained(tmp_path):
    result = run("submit", str(make_docs(tmp_path / "docs", 1)), "--", "cat", "{}", env={"BATCHCORE_REDIS": ""})
    assert result.code == 2, result


def test_an_id_given_twice_is_refused_and_nothing_is_submitted(tmp_path):
    docs = make_docs(tmp_path / "docs", 3)
    with RedisServer() as server:
        result = run("submit", "--redis", server.url, str(docs), str(docs / "d00001.txt"), "--", "cat", "{}")
        listing = run("status", "--redis", server.url)
    assert result.code == 2, result
    assert "given twice" in result.err and "d00001.txt" in result.err
    assert "no batches" in listing.out


def test_a_database_sink_is_refused_at_submit_without_its_password(tmp_path):
    docs = make_docs(tmp_path / "docs", 2)
    with RedisServer() as server:
        result = run("submit", "--redis", server.url, str(docs), "-O", "sink=postgresql://u:sink-pw@127.0.0.1/db",
                     "--", "cat", "{}")
        listing = run("status", "--redis", server.url)
    assert result.code == 2, result
    assert "distributed batch cannot write to a database sink" in result.err, result
    assert "sink-pw" not in result.err + result.out
    assert "no batches" in listing.out
