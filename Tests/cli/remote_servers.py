"""Servers for the remote-input tests, started by the tests on free loopback ports.

DocumentServer: a Python standard-library HTTP server whose documents,
ETags and failures a test sets, and which records every request.
MotoS3: moto's standalone S3 server (python -m moto.server) in a temporary
directory, with a boto3 client to fill it.
"""
import hashlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import wait_for
from redis_server import free_port


class DocumentServer:
    def __init__(self):
        self.lock = threading.Lock()
        self.documents = {}   # path -> bytes
        self.etags = {}       # path -> ETag ("" for none)
        self.failures = {}    # path -> [(status, {header: value}), ...] answered first, in turn
        self.requests = []    # (method, path, headers)
        self.stamps = []      # (method, path, time.monotonic()) of each request, as it came
        self.clients = {}     # path -> the client's port of its last request
        self.held = {}        # path -> threading.Event its answer waits for
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connections can be reused
            disable_nagle_algorithm = True  # else a kept-alive body waits for a delayed ACK

            def do_GET(self):
                server._answer(self, body=True)

            def do_HEAD(self):
                server._answer(self, body=False)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64  # the default 5 drops SYNs when workers connect at once

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def put(self, path, content, etag=None):
        with self.lock:
            self.documents[path] = content
            self.etags[path] = etag if etag is not None else '"%s"' % hashlib.md5(content).hexdigest()

    def fail(self, path, *answers):
        """The next requests of `path` get these (status, headers) answers first."""
        with self.lock:
            self.failures[path] = list(answers)

    def hold(self, path):
        """Requests of `path` wait until the returned event is set."""
        with self.lock:
            self.held[path] = threading.Event()
            return self.held[path]

    def count(self, path, method="GET"):
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p == path)

    def times(self, path, method="GET"):
        """When each request of `path` came (time.monotonic()), in order."""
        with self.lock:
            return [t for m, p, t in self.stamps if m == method and p == path]

    def _answer(self, handler, body):
        path = handler.path
        with self.lock:
            self.requests.append((handler.command, path, dict(handler.headers)))
            self.stamps.append((handler.command, path, time.monotonic()))
            self.clients[path] = handler.client_address[1]
            pending = self.failures.get(path) or []
            failure = pending.pop(0) if pending else None
            content = self.documents.get(path)
            etag = self.etags.get(path)
            held = self.held.get(path)
        if held is not None:
            held.wait(timeout=60)
        if failure is not None:
            status, headers = failure
            self._send(handler, status, b"failing on purpose\n", headers, body)
        elif content is None:
            self._send(handler, 404, b"not here\n", {}, body)
        else:
            self._send(handler, 200, content, {"ETag": etag} if etag else {}, body)

    @staticmethod
    def _send(handler, status, content, headers, body):
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if body:
            handler.wfile.write(content)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class MotoS3:
    """moto's S3 on 127.0.0.1; `env` points batchhost at it with planted credentials."""

    ACCESS_KEY = "AKIAPLANTEDKEY0001"
    SECRET_KEY = "planted-secret-Zq9vX2"
    SESSION_TOKEN = "planted-session-token-Wm4"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moto-test-")
        self.port = free_port()
        self.log = open(f"{self.dir}/moto.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        import boto3  # moto[server] brings it
        self.client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                                   aws_access_key_id=self.ACCESS_KEY, aws_secret_access_key=self.SECRET_KEY)

        def answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"moto.server exited: {open(self.log.name).read()}")
            try:
                self.client.list_buckets()
                return True
            except Exception:
                return False
        wait_for(answers, "moto's S3 server to answer", timeout=60)

    @property
    def env(self):
        return {"AWS_ACCESS_KEY_ID": self.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
                "AWS_SESSION_TOKEN": self.SESSION_TOKEN, "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.url}

    def close(self):
        self.process.kill()  # its state is the temporary directory's, thrown away
        self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
