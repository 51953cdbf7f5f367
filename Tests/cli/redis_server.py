"""A redis-server of the test's own on a free loopback port, in a temporary directory.

    with RedisServer(appendonly=True) as server:
        ... server.url ...
        server.stop(); server.start()   # same port and data (with appendonly)
"""
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REDIS_SERVER = "/usr/bin/redis-server"


def free_port():
    """A port nothing listens on now (the kernel's choice for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, appendonly=False, extra=()):
        self.appendonly = appendonly
        self.extra = list(extra)
        self.dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self.port = None
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log(self):
        path = self.dir / "redis.log"
        return path.read_text() if path.exists() else "(no log)"

    def __enter__(self):
        # Another process may take the port between choosing and binding it: try another.
        for attempt in range(5):
            self.port = free_port()
            try:
                self.start()
                return self
            except RuntimeError:
                if attempt == 4:
                    self.close()
                    raise

    def __exit__(self, *exc):
        self.close()

    def start(self, timeout=20):
        """Starts the server and waits until it answers PING (after loading its AOF)."""
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError(f"{REDIS_SERVER} is missing: install Debian's redis-server (scripts/install-deps does, as root)")
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--daemonize", "no",
             "--logfile", str(self.dir / "redis.log"), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.answers_ping():
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"redis-server exited at start:\n{self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {timeout} s:\n{self.log}")
            time.sleep(0.01)

    def stop(self):
        """SIGTERM (which flushes the AOF), then wait for the exit."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def answers_ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                answer = s.recv(64)
        except OSError:
            return False
        return answer.startswith((b"+PONG", b"-NOAUTH"))
