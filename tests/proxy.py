"""A recording proxy in front of a real OpenAI-compatible server (tests and benchmarks).

Forwards every request as it is, streams the answer back as it comes, and records what went
through: the request (with its kind, as ``tests.fake_openai.Recorded`` tells them), when it
started and ended, and the answer's finish reason and completion tokens. A client that hangs
up (a cancelled reply) hangs up on the server too.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fake_openai import Recorded

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Proxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def of(self, *kinds: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.kind in kinds]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward(b"")

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, raw: bytes) -> None:
        proxy: Proxy = self.server.proxy  # type: ignore[attr-defined]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = Recorded(self.command, self.path, dict(self.headers), body, time.monotonic())
        with proxy._lock:
            proxy.requests.append(rec)
        up = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=600)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            up.request(self.command, self.path, raw or None, headers)
            answer = up.getresponse()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP:
                    self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            seen = b""
            while chunk := answer.read1(65536):
                seen += chunk
                self.wfile.write(chunk)
                self.wfile.flush()
            _note(rec, seen)
        except OSError:
            pass  # the client hung up: so does the server's connection
        finally:
            up.close()
            rec.ended = time.monotonic()
            self.close_connection = True


def _note(rec: Recorded, seen: bytes) -> None:
    """The finish reason and completion tokens of a whole or streamed answer."""
    text = seen.decode("utf-8", "replace")
    parts = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    for part in parts or [text]:
        try:
            data = json.loads(part)
        except ValueError:
            continue
        for choice in data.get("choices") or []:
            rec.finish_reason = choice.get("finish_reason") or rec.finish_reason
        if data.get("usage"):
            rec.completion_tokens = data["usage"].get("completion_tokens")
