"""What both sides of the Redis scenario share: a redis-server of their own
on a free loopback port, a tiny RESP client (no redis-py needed), and the
shape of the figures they print."""
import json
import shutil
import socket
import subprocess
import tempfile
import time


class Redis:
    """A redis-server in a temporary directory, without persistence: both
    sides run on the same settings."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--logfile", f"{self.dir}/redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                if self.command("PING") == "PONG":
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.reader = None

    def command(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._reply(self.sock.makefile("rb"))

    def _reply(self, f):
        line = f.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(f) for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def used_memory(self):
        info = self.command("INFO", "memory")
        return int(next(l for l in info.splitlines() if l.startswith("used_memory:")).split(":")[1])

    def close(self):
        self.sock.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def stop(processes):
    """Stops worker processes: SIGTERM to every one, then waits for each."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def report(seconds, docs, bytes_per_doc):
    print(json.dumps({"seconds": seconds, "docs": docs, "redis_bytes_per_doc": bytes_per_doc}))
