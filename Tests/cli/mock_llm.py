"""A local stand-in for the OpenAI Chat Completions and Anthropic Messages APIs.

It listens on 127.0.0.1 on a free port, checks each request's shape and
credentials the way the real APIs do, answers with usage it records, and
misbehaves on request. Documents steer it with lines in their text:

    mock:status=500          answer with this HTTP status...
    mock:times=2             ...only the first 2 times this text is seen
    mock:retry_after=2       send Retry-After: 2 (raw value) with the error
    mock:retry_after_date=2  send Retry-After as an HTTP date 2 s from now
    mock:retry_after_ms=1500 send retry-after-ms
    mock:anthropic_reset=1.5 send anthropic-ratelimit-requests-reset, RFC 3339, 1.5 s from now
    mock:openai_reset=1.5s   send x-ratelimit-reset-requests (raw value)
    mock:echo_key=2          quote the presented API key in the error: this many
                             times in the message, and in the "param" and "code"
                             fields too when more than once
    mock:no_message=1        leave the error's "message" field out (clients then
                             quote the body)
    mock:malformed=1         answer 200 with a body that is not JSON (first N times)
    mock:sleep=3             wait this many seconds before answering
    mock:reply=TEXT          the model's answer (rest of the line)
    mock:finish=length       the answer was cut off at max_tokens

A limit of `limit` requests per `window` seconds (set by the test) is
enforced like an API's: a request over it gets 429 with Retry-After.
Everything is recorded in `requests`.

A user message may also be an array of content blocks, each checked
against the shape its API documents (`_block_problem`): Anthropic's `text`,
`image` and `document` blocks with a base64 `source`, OpenAI's `text`,
`image_url` (a data URL) and `file` (a PDF data URL with a filename) parts.
The decoded files are recorded in `attachments` (media type, bytes, and the
filename for OpenAI's files); the text blocks, joined, are the user text.
"""
import base64
import binascii
import email.utils
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


ANY_KEY = object()  # as MockLLM's key: any key is accepted, and none


class MockLLM:
    def __init__(self, key="sk-mock-0123456789abcdef"):
        self.key = key            # the key requests must carry; None: none; ANY_KEY: any or none
        self.limit = None         # (requests, window seconds) or None
        self.jitter = 0.05        # slack in the window for network and scheduling delays
        self.requests = []        # one dict per request, in arrival order
        self.lock = threading.Lock()
        self._seen = {}           # text -> times seen (for mock:times / mock:malformed)
        self._accepted = []       # arrival times of requests under the limit
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.mock = self
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def ok(self):
        return [r for r in self.requests if r["status"] == 200 and not r.get("malformed")]

    def usage(self):
        """Tokens reported in successful replies: (input, output)."""
        ok = self.ok()
        return sum(r["input_tokens"] for r in ok), sum(r["output_tokens"] for r in ok)

    # -- decisions, under the lock -------------------------------------------

    def _over_limit(self, now):
        if self.limit is None:
            return False
        n, window = self.limit
        recent = [t for t in self._accepted if now - t < window - self.jitter]
        self._accepted = recent
        if len(recent) >= n:
            return True
        self._accepted.append(now)
        return False

    def _count(self, text):
        self._seen[text] = self._seen.get(text, 0) + 1
        return self._seen[text]


def _directives(text):
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("mock:") and "=" in line:
            key, _, value = line[5:].partition("=")
            found[key.strip()] = value
    return found


ANTHROPIC_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _base64_problem(data, where):
    if not isinstance(data, str) or not data:
        return f"{where}: a non-empty base64 string is required"
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"{where}: not valid base64"
    return None


def _data_url(url):
    """(media type, base64 text) of a data URL, or None."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return None
    head, _, data = url[5:].partition(";base64,")
    return head, data


def _block_problem(api, block):
    """What is wrong with one content block, as the API would say, or None."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return "content: each block needs a type"
    kind = block["type"]
    if kind == "text":
        if set(block) != {"type", "text"} or not isinstance(block["text"], str) or not block["text"]:
            return "text block: exactly type and a non-empty text"
        return None
    if api == "anthropic":
        if kind not in ("image", "document") or set(block) != {"type", "source"}:
            return f"content: unexpected block {sorted(block)} of type {kind!r}"
        source = block["source"]
        if not isinstance(source, dict) or set(source) != {"type", "media_type", "data"} or source["type"] != "base64":
            return f"{kind}.source: expected exactly type 'base64', media_type and data"
        allowed = ("application/pdf",) if kind == "document" else ANTHROPIC_IMAGE_TYPES
        if source["media_type"] not in allowed:
            return f"{kind}.source.media_type: {source['media_type']!r} is not one of {allowed}"
        return _base64_problem(source["data"], f"{kind}.source.data")
    if kind == "image_url":
        if set(block) != {"type", "image_url"} or not isinstance(block["image_url"], dict):
            return "image_url part: exactly type and image_url"
        parsed = _data_url(block["image_url"].get("url"))
        if parsed is None or not parsed[0].startswith("image/"):
            return "image_url.url: expected a data:image/...;base64, URL"
        return _base64_problem(parsed[1], "image_url.url")
    if kind == "file":
        file = block.get("file")
        if set(block) != {"type", "file"} or not isinstance(file, dict) or set(file) != {"filename", "file_data"}:
            return "file part: exactly type and file {filename, file_data}"
        if not isinstance(file["filename"], str) or not file["filename"]:
            return "file.filename: a non-empty string is required"
        parsed = _data_url(file["file_data"])
        if parsed is None or parsed[0] != "application/pdf":
            return "file.file_data: expected a data:application/pdf;base64, URL"
        return _base64_problem(parsed[1], "file.file_data")
    return f"content: unknown part type {kind!r}"


def _user_parts(content):
    """(text, attachments) of a user message's content, shapes already checked."""
    if isinstance(content, str):
        return content, []
    texts, files = [], []
    for block in content:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] in ("image", "document"):
            files.append({"block": block["type"], "media_type": block["source"]["media_type"],
                          "bytes": base64.b64decode(block["source"]["data"])})
        elif block["type"] == "image_url":
            media, data = _data_url(block["image_url"]["url"])
            files.append({"block": "image_url", "media_type": media, "bytes": base64.b64decode(data)})
        else:
            media, data = _data_url(block["file"]["file_data"])
            files.append({"block": "file", "media_type": media, "filename": block["file"]["filename"],
                          "bytes": base64.b64decode(data)})
    return "\n".join(texts), files


def _rfc3339(at):
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

    def log_message(self, *args):
        pass

    def do_POST(self):
        mock = self.server.mock
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = {"path": self.path, "headers": headers, "time": time.monotonic(),
                  "port": self.client_address[1], "raw": raw}
        with mock.lock:
            mock.requests.append(record)
        api = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}.get(self.path)
        record["api"] = api
        if api is None:
            return self._error(record, 404, "not_found_error", f"no route {self.path}")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(record, 400, "invalid_request_error", "body is not JSON")
        record["body"] = body

        problem = self._auth_problem(api, headers)
        if problem:
            return self._error(record, 401, "authentication_error", problem)
        problem = self._shape_problem(api, body)
        if problem:
            return self._error(record, 400, "invalid_request_error", problem)

        user, record["attachments"] = _user_parts(body["messages"][-1]["content"])
        record["user"] = user
        record["system"] = (body.get("system") if api == "anthropic" else
                            next((m["content"] for m in body["messages"] if m["role"] == "system"), None))
        steer = _directives(user)
        with mock.lock:
            if mock._over_limit(time.monotonic()):
                record["limited"] = True
                return self._error(record, 429, "rate_limit_error", "rate limit reached",
                                   {"Retry-After": "1"})
            seen = mock._count(user)

        if "sleep" in steer:
            time.sleep(float(steer["sleep"]))
        if "malformed" in steer and seen <= int(steer["malformed"]):
            record["malformed"] = True
            return self._send(record, 200, b'{"choices": [ this is not json', {})
        if "status" in steer and seen <= int(steer.get("times", "1000000")):
            return self._steered_error(record, steer, headers)
        return self._answer(record, api, body, user, steer)

    # -- checks ----------------------------------------------------------------

    def _auth_problem(self, api, headers):
        key = self.server.mock.key
        if api == "anthropic":
            if "anthropic-version" not in headers:
                return "anthropic-version header is required"
            if "authorization" in headers:
                return "Anthropic takes x-api-key, not Authorization"
            given = headers.get("x-api-key")
        else:
            if "x-api-key" in headers:
                return "OpenAI takes Authorization: Bearer, not x-api-key"
            auth = headers.get("authorization")
            given = auth[len("Bearer "):] if auth and auth.startswith("Bearer ") else None
            if auth is not None and given is None:
                return "Authorization must be 'Bearer KEY'"
        if key is ANY_KEY:
            return None
        if key is None:
            return None if given is None else "this server takes no key"
        if given != key:
            return f"Incorrect API key provided: {given}"
        return None

    def _shape_problem(self, api, body):
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: a non-empty string is required"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: a non-empty array is required"
        for m in messages:
            if m.get("role") not in ("system", "user", "assistant"):
                return "messages: each needs a role"
            content = m.get("content")
            if isinstance(content, list) and m["role"] == "user" and content:
                for block in content:
                    problem = _block_problem(api, block)
                    if problem:
                        return problem
            elif not isinstance(content, str):
                return "messages: content must be a string or a non-empty array of content blocks"
        if messages[-1]["role"] != "user":
            return "messages: the last one must be the user's"
        if api == "anthropic":
            if not isinstance(body.get("max_tokens"), int):
                return "max_tokens: an integer is required"
            if any(m["role"] == "system" for m in messages):
                return "messages: Anthropic takes the system text in 'system', not as a message"
            if "system" in body and not isinstance(body["system"], str):
                return "system: a string is required"
        else:
            if not isinstance(body.get("max_tokens", body.get("max_completion_tokens")), int):
                return "max_tokens: an integer is required"
        return None

    # -- answers ---------------------------------------------------------------

    def _answer(self, record, api, body, user, steer):
        if "reply" in steer:
            reply = steer["reply"].replace("\\n", "\n")
        elif "JSON" in (record["system"] or ""):
            reply = json.dumps({"length": len(user)})
        else:
            reply = f"seen {len(user)} characters"
        cut = steer.get("finish") == "length"
        record["input_tokens"] = len(user) // 4 + 7
        record["output_tokens"] = len(reply) // 4 + 1
        record["reply"] = reply
        if api == "anthropic":
            answer = {"id": "msg_mock", "type": "message", "role": "assistant", "model": body["model"],
                      "content": [{"type": "text", "text": reply}],
                      "stop_reason": "max_tokens" if cut else "end_turn",
                      "usage": {"input_tokens": record["input_tokens"], "output_tokens": record["output_tokens"]}}
        else:
            answer = {"id": "chatcmpl-mock", "object": "chat.completion", "model": body["model"],
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                   "finish_reason": "length" if cut else "stop"}],
                      "usage": {"prompt_tokens": record["input_tokens"],
                                "completion_tokens": record["output_tokens"],
                                "total_tokens": record["input_tokens"] + record["output_tokens"]}}
        self._send(record, 200, json.dumps(answer).encode(), {})

    def _steered_error(self, record, steer, headers):
        extra = {}
        now = time.time()
        if "retry_after" in steer:
            extra["Retry-After"] = steer["retry_after"]
        if "retry_after_date" in steer:
            extra["Retry-After"] = email.utils.formatdate(now + float(steer["retry_after_date"]), usegmt=True)
        if "retry_after_ms" in steer:
            extra["retry-after-ms"] = steer["retry_after_ms"]
        if "anthropic_reset" in steer:
            extra["anthropic-ratelimit-requests-reset"] = _rfc3339(now + float(steer["anthropic_reset"]))
        if "openai_reset" in steer:
            extra["x-ratelimit-reset-requests"] = steer["openai_reset"]
        message = f"steered failure {steer['status']}"
        fields = {}
        quotes = int(steer.get("echo_key") or 0)
        if quotes:
            given = headers.get("x-api-key") or headers.get("authorization", "")
            message += " for key " + " and again ".join([given] * quotes)
            if quotes > 1:
                fields = {"param": given, "code": f"invalid key {given}"}
        if steer.get("no_message"):
            message = None
        self._error(record, int(steer["status"]), "api_error", message, extra, fields)

    def _error(self, record, status, kind, message, extra=None, fields=None):
        error = {"type": kind, **({"message": message} if message is not None else {}), **(fields or {})}
        body = {"type": "error", "error": error} if record.get("api") == "anthropic" else {"error": error}
        self._send(record, status, json.dumps(body).encode(), extra or {})

    def _send(self, record, status, payload, extra):
        record["status"] = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            record["client_gone"] = True
