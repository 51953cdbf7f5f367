"""Results into a database: the SQLite and PostgreSQL sinks, exactly once with the journal."""
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import BATCHHOST, LineReader, read_jsonl, run, wait_for
from postgres_server import PASSWORD, PostgresServer

PG_ENV = {"PGPASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


class SQLiteTarget:
    def __init__(self, tmp_path):
        self.path = tmp_path / "r.db"

    def url(self, table="results"):
        return f"sqlite://{self.path}?table={table}"

    def rows(self, table="results", columns="*"):
        """Rows as tuples of strings (NULL as None), as psql would give them."""
        if not self.path.exists():
            return []
        connection = sqlite3.connect(self.path)
        try:
            return [tuple(None if v is None else str(v) for v in row)
                    for row in connection.execute(f"SELECT {columns} FROM {table}")]
        except sqlite3.OperationalError:
            return []
        finally:
            connection.close()

    def execute(self, sql):
        connection = sqlite3.connect(self.path)
        connection.execute(sql)
        connection.commit()
        connection.close()


class PostgresTarget:
    counter = itertools.count()

    def __init__(self, server):
        self.server = server
        self.database = f"test{next(self.counter)}"
        server.psql(f"CREATE DATABASE {self.database}")

    def url(self, table="results"):
        return self.server.url(self.database, table)

    def rows(self, table="results", columns="*"):
        present = self.server.psql(f"SELECT to_regclass('{table}') IS NOT NULL", self.database)
        if present != [["t"]]:
            return []
        return [tuple(row) for row in self.server.psql(f"SELECT {columns} FROM {table}", self.database)]

    def execute(self, sql):
        self.server.psql(sql, self.database)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return SQLiteTarget(tmp_path)
    return PostgresTarget(request.getfixturevalue("postgres"))


def manifest(tmp_path, n):
    m = tmp_path / "docs.jsonl"
    with m.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"doc-{i:05d}", "path": "/dev/null", "metadata": {"n": i}}) + "\n")
    return m


def sink_args(counting, m, out, url, *extra, sleep_us=0):
    return ["run", "--manifest", m, "-p", counting, "-o", out, "--sink", url,
            "--set", f"calls={out}.calls", "--set", f"sleep_us={sleep_us}", *extra]


def rows(db, table="results", columns="*"):
    connection = sqlite3.connect(db)
    try:
        return connection.execute(f"SELECT {columns} FROM {table}").fetchall()
    finally:
        connection.close()


def journal_ids(out):
    connection = sqlite3.connect(f"{out}.journal")
    try:
        return {row[0] for row in connection.execute("SELECT id FROM documents")}
    finally:
        connection.close()


def sink_mark(out):
    """How far the journal records the database holds its results (out_seq)."""
    connection = sqlite3.connect(f"{out}.journal")
    try:
        return int(connection.execute("SELECT value FROM meta WHERE key LIKE 'sink %'").fetchone()[0])
    finally:
        connection.close()


def calls(out):
    path = Path(f"{out}.calls")
    return path.read_text().split() if path.exists() else []


def test_sqlite_sink_writes_the_documented_schema(tmp_path, counting):
    m, out, db = manifest(tmp_path, 250), tmp_path / "out.jsonl", tmp_path / "r.db"
    r = run(*sink_args(counting, m, out, f"sqlite://{db}?table=results"))
    assert r.code == 0, r
    by_id = {rec["id"]: rec for rec in read_jsonl(out)}
    table = rows(db, columns="id, path, status, output, error, attempts, duration_ms, input_tokens, "
                             "output_tokens, cost_usd, metadata, duplicate_of, batch, finished_at")
    assert len(table) == 250
    for (doc_id, path, status, output, error, attempts, duration, tin, tout, cost, metadata, dup, batch, at) in table:
        rec = by_id[doc_id]
        assert (path, status, json.loads(output), error, attempts) == (rec["path"], "ok", rec["output"], None, 1)
        assert json.loads(metadata) == rec["metadata"] and dup is None and batch == "out.jsonl"
        assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", at), at  # ISO 8601, UTC


def test_kill_9_twice_then_resume_leaves_exactly_one_row_per_document(tmp_path, counting, target):
    n = 2000
    m, out = manifest(tmp_path, n), tmp_path / "out.jsonl"
    args = sink_args(counting, m, out, target.url(), "-w", "8", "-O", "sink.batch_size=50",
                     "-O", "checkpoint.every=20", sleep_us=10000)
    for kill in range(2):
        calls_before, rows_before = len(calls(out)), len(target.rows(columns="id"))
        proc = subprocess.Popen([str(BATCHHOST), *map(str, args), *(["--resume"] if kill else [])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **PG_ENV})
        # Killed while documents run and the sink writes. The counts are
        # relative to this run, and 10 ms a document leaves most of the work
        # to later runs, so a late first kill cannot starve the second.
        wait_for(lambda: len(calls(out)) >= calls_before + 200 and len(target.rows(columns="id")) > rows_before,
                 "documents to reach the database")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    r = run(*args, "--resume", timeout=300, env=PG_ENV)
    assert r.code == 0, r
    ids = [row[0] for row in target.rows(columns="id")]
    assert len(ids) == n and set(ids) == journal_ids(out) == {f"doc-{i:05d}" for i in range(n)}


def test_documents_run_again_replace_their_rows(tmp_path, counting, target):
    m, out = manifest(tmp_path, 20), tmp_path / "out.jsonl"
    r = run(*sink_args(counting, m, out, target.url(), "--set", "fail=doc-0000"), env=PG_ENV)
    assert r.code == 1, r
    assert sorted(target.rows(columns="status")).count(("failed",)) == 10
    # The rows of the documents run again are in the table already: PostgreSQL's COPY gives way to upserts.
    r = run(*sink_args(counting, m, out, target.url()), "--resume", "--retry-failed", "--force-resume", env=PG_ENV)
    assert r.code == 0, r
    assert sorted(target.rows(columns="id, status")) == [(f"doc-{i:05d}", "ok") for i in range(20)]


def test_a_retried_document_that_failed_last_reaches_the_database(tmp_path, counting, target):
    # One worker: the last document committed is the failed one. Its row goes
    # when it runs again; the number it was committed under must not be
    # given again, or the sink (which has written up to it) skips the retry.
    m, out = manifest(tmp_path, 5), tmp_path / "out.jsonl"
    r = run(*sink_args(counting, m, out, target.url(), "-w", "1", "--set", "fail=doc-00004"), env=PG_ENV)
    assert r.code == 1, r
    r = run(*sink_args(counting, m, out, target.url(), "-w", "1"), "--resume", "--retry-failed", "--force-resume", env=PG_ENV)
    assert r.code == 0, r
    assert sorted(target.rows(columns="id, status")) == [(f"doc-{i:05d}", "ok") for i in range(5)]


def test_sink_columns_map_output_fields_to_typed_columns(tmp_path, counting, target):
    m, out = manifest(tmp_path, 20), tmp_path / "out.jsonl"
    r = run(*sink_args(counting, m, out, target.url("seen"),
                       "-O", "sink.columns=who=$.seen,attempt:integer=$.attempt,absent:real=$.nope.deeper"), env=PG_ENV)
    assert r.code == 0, r
    table = target.rows("seen", "id, who, attempt + 1, absent, status")
    assert sorted(table) == [(f"doc-{i:05d}", f"doc-{i:05d}", "2", None, "ok") for i in range(20)]


def json_files(tmp_path, values):
    """A folder of JSON files {"n": VALUE}, one per value, f00.json, f01.json, ..."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, value in enumerate(values):
        (folder / f"f{i:02d}.json").write_text(json.dumps({"n": value}))
    return folder


def test_a_type_mismatch_in_sink_columns_fails_only_that_document(tmp_path, target):
    folder, out = json_files(tmp_path, [0, 1, "abc", 3, 4.5, 5]), tmp_path / "out.jsonl"
    r = run("run", folder, "-p", "exec", "--set", "json=true", "-o", out, "--sink", target.url("seen"),
            "-O", "sink.columns=n:integer=$.n", "--", "cat", env=PG_ENV)
    assert r.code == 1 and "To continue" not in r.err, r  # as for any failed document
    by_path = {Path(rec["path"]).name: rec for rec in read_jsonl(out)}
    failed = {name: rec["error"] for name, rec in by_path.items() if rec["status"] == "failed"}
    assert failed == {
        "f02.json": "sink.columns (the table 'seen'): column 'n' is declared integer, but the output's $.n is a string: \"abc\"",
        "f04.json": "sink.columns (the table 'seen'): column 'n' is declared integer, but the output's $.n is a number: 4.5"}
    assert "column 'n' is declared integer" in r.err, r.err
    table = {Path(path).name: (n, status) for path, n, status in target.rows("seen", "id, n, status")}
    assert table == {"f00.json": ("0", "ok"), "f01.json": ("1", "ok"), "f02.json": (None, "failed"),
                     "f03.json": ("3", "ok"), "f04.json": (None, "failed"), "f05.json": ("5", "ok")}
    assert run("status", f"{out}.journal").out.count("column 'n' is declared integer") == 2


def test_a_permanent_database_error_stops_the_run_resumably(tmp_path, counting, target):
    m, out = manifest(tmp_path, 20), tmp_path / "out.jsonl"
    target.execute("CREATE TABLE seen (id TEXT PRIMARY KEY, who TEXT CHECK (who <> 'doc-00007'), "
                   "status TEXT, error TEXT, batch TEXT, finished_at TEXT)")
    args = sink_args(counting, m, out, target.url("seen"), "-O", "sink.columns=who=$.seen")
    r = run(*args, env=PG_ENV)
    assert r.code == 3 and "check" in r.err.lower() and "table=seen" in r.err, r
    assert "To continue:" in r.err and "--resume" in r.err, r.err
    assert len(journal_ids(out)) == 20  # nothing lost: the journal has every result
    target.execute("DROP TABLE seen")
    r = run(*args, "--resume", env=PG_ENV)
    assert r.code == 0, r
    assert sorted(target.rows("seen", "id, who")) == [(f"doc-{i:05d}",) * 2 for i in range(20)]


def test_finished_at_is_a_timestamp_and_a_text_output_is_queryable(tmp_path, postgres):
    target = PostgresTarget(postgres)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("plain words")
    out = tmp_path / "out.jsonl"
    r = run("run", tmp_path / "docs", "-p", "exec", "-o", out, "--sink", target.url(), "--", "cat", env=PG_ENV)
    assert r.code == 0, r
    [(kind, text, finished, recent)] = target.rows(
        columns="jsonb_typeof(output), output #>> '{}', pg_typeof(finished_at), now() - finished_at < interval '1 hour'")
    assert (kind, text, finished, recent) == ("string", "plain words", "timestamp with time zone", "t")


def test_an_incompatible_table_is_refused_before_processing(tmp_path, counting, target):
    m, out = manifest(tmp_path, 20), tmp_path / "out.jsonl"
    target.execute("CREATE TABLE results (id TEXT PRIMARY KEY, path TEXT, note TEXT)")
    r = run(*sink_args(counting, m, out, target.url()), env=PG_ENV)
    assert r.code == 2, r
    assert "table 'results' exists but it lacks the columns status, output" in r.err, r.err
    assert calls(out) == []


def test_a_wrong_password_or_a_missing_database_is_refused_before_processing(tmp_path, counting, postgres):
    m, out = manifest(tmp_path, 20), tmp_path / "out.jsonl"
    database = PostgresTarget(postgres).database
    r = run(*sink_args(counting, m, out, postgres.url(database)), env={"PGPASSWORD": "wrong"})
    assert r.code == 2 and "password authentication failed" in r.err, r
    assert "wrong" not in r.err and calls(out) == []
    r = run(*sink_args(counting, m, out, postgres.url("nosuchdb")), env=PG_ENV)
    assert r.code == 2 and 'database "nosuchdb" does not exist' in r.err, r
    assert calls(out) == []


def password_url(postgres, database, table, form):
    """The server's URL with the password in it: as user:password@ or as a password= parameter."""
    url = postgres.url(database, table)
    if form == "userinfo":
        return url.replace("batch@", f"batch:{PASSWORD}@")
    return url.replace("&table=", f"&password={PASSWORD}&table=")


@pytest.mark.parametrize("form", ["userinfo", "parameter"])
def test_a_password_in_a_sink_option_never_shows(tmp_path, counting, postgres, form):
    target = PostgresTarget(postgres)
    target.execute("CREATE TABLE seen (id TEXT PRIMARY KEY, who TEXT CHECK (who <> 'doc-00015'), "
                   "status TEXT, error TEXT, batch TEXT, finished_at TEXT)")
    m, out, log = manifest(tmp_path, 20), tmp_path / "out.jsonl", tmp_path / "run.log"
    url = password_url(postgres, target.database, "seen", form)
    r = run("run", "--manifest", m, "-p", counting, "-o", out, "--log-file", log,
            "-O", "sink.columns=who=$.seen", *(["-O", f"sink={url}"] if form == "userinfo" else [f"--option=sink={url}"]))
    assert r.code == 3 and "violates check constraint" in r.err, r  # a permanent error: stops with the resume command
    resume = r.err.splitlines()[-1]
    assert "sink=postgresql://batch@/" in resume and "--resume" in resume, resume
    status = run("status", f"{out}.journal").out + run("status", "--json", f"{out}.journal").out
    shown = {"stderr": r.err, "stdout": r.out, "log": log.read_text(), "status": status, "output": out.read_text()}
    shown.update({f.name: f.read_bytes().decode("latin-1") for f in tmp_path.glob("out.jsonl.journal*")})
    assert all(PASSWORD not in text for text in shown.values()), [name for name, text in shown.items() if PASSWORD in text]
    assert "run started" in shown["log"] and "sink=postgresql://batch@/" in shown["log"]
    bad = run("run", "--manifest", m, "-p", counting, "-o", tmp_path / "other.jsonl",
              "-O", "sink=" + url.replace("postgresql://", "mysql://"))
    assert bad.code == 2 and "is not a database" in bad.err and PASSWORD not in bad.err, bad
    bad = run("export", f"{out}.journal", "--sink", url, "-O", f"sink={url}")
    assert bad.code != 0 and "export takes sink options only" in bad.err and PASSWORD not in bad.err, bad


def api_status(err):
    """The run's /api/status (--http 0), its address read from the run's stderr."""
    address = re.search(r"serving (http://[\d.]+:\d+/)", err.text(wait=False)).group(1)
    with urllib.request.urlopen(address + "api/status", timeout=30) as answer:
        return answer.read().decode()


def test_postgres_stopped_mid_run_pauses_the_sink_and_the_run_completes(tmp_path, counting, postgres):
    target = PostgresTarget(postgres)
    m, out = manifest(tmp_path, 400), tmp_path / "out.jsonl"
    url = password_url(postgres, target.database, "results", "userinfo")  # no PGPASSWORD: the URL's is used
    proc = subprocess.Popen([str(BATCHHOST), *map(str, sink_args(counting, m, out, url, "-w", "4",
                                                                  "-O", "sink.max_backlog=100", "--progress", "json",
                                                                  "-O", "progress.interval=50ms", "--http", "0",
                                                                  sleep_us=2000))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = LineReader(proc.stderr)
    try:
        err.wait_for("serving http://")
        assert json.loads(api_status(err))["batches"][0]["sinks"] == {"waiting_for_database": 0}
        wait_for(lambda: len(target.rows(columns="id")) > 0, "the first rows")
        postgres.stop()
        err.wait_for("sink: waiting for database")
        err.wait_for('"sinks_waiting":1')  # the progress says so too
        status = api_status(err)
        assert json.loads(status)["batches"][0]["sinks"] == {"waiting_for_database": 1} and PASSWORD not in status
        wait_for(lambda: "sink: waiting for database" in run("status", f"{out}.journal").out, "batchhost status to say so")
        assert json.loads(run("status", "--json", f"{out}.journal").out)["live"]["sinks_waiting"] == 1
        wait_for(lambda: len(journal_ids(out)) >= 100, "the backlog to fill")
        # Processing stops once the backlog is full: 100 waiting, and one more per worker.
        assert proc.poll() is None and len(calls(out)) <= sink_mark(out) + 104
    finally:
        postgres.start()
    assert proc.wait(timeout=120) == 0, err.text()
    assert len(target.rows(columns="id")) == 400 and PASSWORD not in err.text()


def test_a_sink_needs_a_journal(tmp_path, counting):
    m, db = manifest(tmp_path, 5), tmp_path / "r.db"
    r = run("run", "--manifest", m, "-p", counting, "--sink", f"sqlite://{db}")
    assert r.code == 2 and "a sink needs the journal" in r.err, r
    r = run("run", "--manifest", m, "-p", counting, "--sink", f"mysql://{db}")
    assert r.code == 2 and "'mysql' is not a database" in r.err, r


def test_a_locked_database_pauses_the_sink_and_the_run_completes(tmp_path, counting):
    (tmp_path / "first").mkdir()
    first = sink_args(counting, manifest(tmp_path / "first", 1), tmp_path / "first" / "out.jsonl", f"sqlite://{tmp_path / 'r.db'}")
    assert run(*first).code == 0  # the table exists, in WAL mode: readers go on while a writer holds it
    m, out, db = manifest(tmp_path, 300), tmp_path / "out.jsonl", tmp_path / "r.db"
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    proc = subprocess.Popen([str(BATCHHOST), *map(str, sink_args(counting, m, out, f"sqlite://{db}",
                                                                  "-O", "sink.max_backlog=50", "-w", "4"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        err = LineReader(proc.stderr)
        err.wait_for("sink: waiting for database")
        # Processing stops once the backlog is full: 50 waiting, and one more per worker.
        wait_for(lambda: len(journal_ids(out)) >= 50, "the backlog to fill")
        assert proc.poll() is None and len(calls(out)) <= 54
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert proc.wait(timeout=120) == 0, err.text()
    assert len(rows(db, columns="id")) == 300  # doc-00000 of the first run was replaced


def test_export_loads_a_finished_journal_into_a_database(tmp_path, counting):
    m, out, db = manifest(tmp_path, 120), tmp_path / "out.jsonl", tmp_path / "later.db"
    assert run(*sink_args(counting, m, out, f"sqlite://{tmp_path / 'live.db'}")).code == 0
    r = run("export", f"{out}.journal", "--sink", f"sqlite://{db}?table=docs", "-O", "sink.batch_size=7")
    assert r.code == 0 and "120 results written" in r.err, r
    assert sorted(rows(db, "docs")) == sorted(rows(tmp_path / "live.db"))
    r = run("export", f"{out}.journal", "--sink", f"sqlite://{db}?table=docs", "-O", "sink.columns=who:integer=$.seen")
    assert r.code != 0 and "lacks the column who" in r.err, r


def test_a_duplicate_row_carries_the_original_output(tmp_path, counting):
    d = tmp_path / "docs"
    d.mkdir()
    for name in ["a.txt", "b.txt"]:
        (d / name).write_text("same content\n")
    out, db = tmp_path / "out.jsonl", tmp_path / "r.db"
    r = run("run", d, "-p", counting, "-o", out, "-s", "--dedupe", "--sink", f"sqlite://{db}")
    assert r.code == 0, r
    (a_id, a_output, a_dup), (b_id, b_output, b_dup) = sorted(rows(db, columns="id, output, duplicate_of"))
    assert a_dup is None and b_dup == a_id and b_output == a_output and "seen" in a_output
