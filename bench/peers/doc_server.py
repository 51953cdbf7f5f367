#!/usr/bin/env python3
"""Small documents over HTTP/1.1 (keep-alive), for the fetch scenario.

    doc_server.py [--bytes 1024]

Listens on 127.0.0.1 on a free port and prints that port on its first line.

    GET /doc/NAME  200 with BYTES bytes (an ETag, a Content-Length)
    GET /stats     {"documents": N}: documents served so far
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=1024)
    body = b"x" * ap.parse_args().bytes
    served = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the body
        # waits for the client's delayed ACK (40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_GET(self):
            if self.path == "/stats":
                with lock:
                    self.reply(json.dumps({"documents": served[0]}).encode())
                return
            with lock:
                served[0] += 1
            self.reply(body)

        def reply(self, content):
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("ETag", '"bench"')
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        # listen()'s backlog, set before the socket listens: with the default
        # of 5, eight clients connecting at once lose SYNs and wait 1 s to retry.
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
