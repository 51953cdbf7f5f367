#!/usr/bin/env python3
"""A stand-in for a rate-limited HTTP API, for scenario 6b.

    mock_endpoint.py [--limit 10] [--latency-ms 50]

Listens on 127.0.0.1 on a free port and prints that port on its first line.

    GET  /doc/ID   answered after the latency: 200 with a small JSON body, or
                   429 with Retry-After when the request is over the limit
    GET  /stats    {"ok": N, "limited": N, "other": N} since the last reset
    POST /reset    zeroes the counters and forgets past requests

The limit is strict: at most LIMIT requests are accepted in any sliding
1-second window (a fixed window would let up to twice as many through
around its edges). A request is judged when it arrives, before the latency;
rejected requests do not use up the allowance. Retry-After is in whole
seconds, as HTTP defines it: the time until the oldest accepted request
leaves the window, rounded up (so 1).
"""
import argparse
import collections
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Endpoint:
    def __init__(self, limit, window_s=1.0):
        self.limit, self.window_s = limit, window_s
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.accepted = collections.deque()  # arrival times of accepted requests in the window
            self.counts = {"ok": 0, "limited": 0, "other": 0}

    def admit(self):
        """None when the request is accepted, else the Retry-After in seconds."""
        now = time.monotonic()
        with self.lock:
            while self.accepted and self.accepted[0] <= now - self.window_s:
                self.accepted.popleft()
            if len(self.accepted) < self.limit:
                self.accepted.append(now)
                self.counts["ok"] += 1
                return None
            self.counts["limited"] += 1
            return max(1, math.ceil(self.accepted[0] + self.window_s - now))

    def count_other(self):
        with self.lock:
            self.counts["other"] += 1

    def stats(self):
        with self.lock:
            return dict(self.counts)


def make_handler(endpoint, latency_s):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real clients (libcurl) expect

        def do_GET(self):
            if self.path == "/stats":
                return self.reply(200, endpoint.stats())
            if not self.path.startswith("/doc/"):
                endpoint.count_other()
                return self.reply(404, {"error": "not found"})
            retry_after = endpoint.admit()
            time.sleep(latency_s)
            if retry_after is None:
                self.reply(200, {"id": self.path[len("/doc/"):], "result": "ok"})
            else:
                self.reply(429, {"error": "rate limit exceeded"}, {"Retry-After": str(retry_after)})

        def do_POST(self):
            if self.path != "/reset":
                return self.reply(404, {"error": "not found"})
            endpoint.reset()
            self.reply(200, {"reset": True})

        def reply(self, status, body, headers=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # hundreds of requests per second: no access log

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 32 clients connect at once; the default backlog of 5 would drop SYNs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=10, help="requests accepted per sliding second")
    ap.add_argument("--latency-ms", type=float, default=50)
    args = ap.parse_args()
    server = Server(("127.0.0.1", 0), make_handler(Endpoint(args.limit), args.latency_ms / 1000))
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
