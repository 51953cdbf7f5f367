"""Remote documents from Python: batch.add("http://...") is fetched before
the processor runs, which sees its bytes (or a temporary file)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import batchcore

DOCUMENTS = {"/a.txt": b"first document", "/b.txt": b"second, a little longer"}
HELD = {"/held.txt": threading.Event()}  # answered once set
REQUESTED = threading.Event()  # a held document was asked for


@pytest.fixture(scope="module")
def server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path in HELD:
                REQUESTED.set()
                HELD[self.path].wait(timeout=60)
            body = DOCUMENTS.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    for event in HELD.values():
        event.set()
    httpd.shutdown()
    httpd.server_close()


def test_a_url_reaches_the_processor_as_its_bytes(server):
    seen = {}

    def record(doc):
        seen[doc.id] = (doc.path, doc.read())
        return b"ok"

    with batchcore.Engine() as engine, engine.batch(record, workers=2, keep_results=True) as batch:
        batch.add(f"{server}/a.txt")
        batch.add(f"{server}/b.txt", id="b")
        batch.add(f"{server}/missing.txt")
        stats = batch.run()
        assert (stats.ok, stats.failed) == (2, 1)
        assert seen == {f"{server}/a.txt": (None, DOCUMENTS["/a.txt"]), "b": (None, DOCUMENTS["/b.txt"])}
        [failed] = [r for r in batch.results() if r.status == batchcore.Status.FAILED]
        assert "HTTP 404" in failed.error and f"{server}/missing.txt" in failed.error


def test_a_url_over_fetch_memory_max_is_a_temporary_file(server):
    seen = {}

    def record(doc):
        seen[doc.id] = (doc.path, doc.read())
        return b"ok"

    with batchcore.Engine() as engine, engine.batch(record) as batch:
        batch.set("fetch.memory_max", 4)
        batch.add(f"{server}/a.txt", id="a")
        assert batch.run().ok == 1
    path, content = seen["a"]
    assert "batchcore-fetch." in path and content == DOCUMENTS["/a.txt"]


def test_a_hard_cancel_stops_a_fetch_in_flight(server):
    """The server holds the answer for a minute; the fetch's own timeout is
    a minute too: only the cancel can end the batch within the wait."""
    with batchcore.Engine() as engine, engine.batch(lambda doc: b"ok") as batch:
        batch.set("fetch.timeout", "60s")
        batch.add(f"{server}/held.txt")
        batch.start()
        assert REQUESTED.wait(timeout=30)
        batch.cancel(hard=True)
        stats = batch.wait(timeout=30)
        assert stats.state == batchcore.BatchState.CANCELLED and stats.ok == 0
