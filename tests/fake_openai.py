"""A fake OpenAI-compatible server on 127.0.0.1, for tests, benchmarks and trying the app.

Speaks the real wire format (JSON, SSE streaming, usage chunks, OpenAI's error bodies), records
every request, and plays scripted behaviours: replies (with or without the closing
``[DONE]``), error statuses, redirects, hangs, connections cut mid-stream, malformed SSE,
bytes that are not UTF-8. ``flavor="llama.cpp"`` behaves like llama.cpp's server (``/props``,
``/tokenize``, no json_schema, no embeddings); ``n_ctx`` gives it a context window it enforces
and reports. ``one_at_a_time`` serves like llama.cpp does: a stream running when another
request arrives is ended with ``[DONE]``, and requests wait for each other.

    python -m tests.fake_openai --port 8765 [--flavor llama.cpp] [--delay 0.02]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chatmem.domain.context import MEMORY_HEADING, MESSAGE_HEADING


@dataclass
class Reply:
    text: str
    chunks: list[str] | None = None
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None
    done: bool = True  # False: chunked, and dropped after the finish: no [DONE], no last chunk


@dataclass
class Error:
    status: int
    message: str = "Something went wrong"
    code: str | None = None
    headers: dict[str, str] | None = None
    times: int = 1


@dataclass
class Hang:
    seconds: float = 30.0


@dataclass
class Cut:
    text: str
    after: int = 3


@dataclass
class Malformed:
    pass


@dataclass
class Redirect:
    location: str
    status: int = 301


@dataclass
class Garbage:
    """A 200 stream of these raw bytes."""

    data: bytes


Behaviour = Reply | Error | Hang | Cut | Malformed | Redirect | Garbage


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    started: float = 0.0  # time.monotonic() when it arrived, and when its answer ended
    ended: float | None = None
    finish_reason: str | None = None  # of the answer (tests.proxy notes them)
    completion_tokens: int | None = None

    @property
    def said(self) -> list[str]:
        """The chat messages' contents as written, without the memory recalled into them."""
        said = [str(m.get("content", "")) for m in self.body.get("messages", [])]
        if said and MEMORY_HEADING in said[-1]:
            said[-1] = said[-1].split(MESSAGE_HEADING + "\n\n", 1)[-1]
        return said

    @property
    def memory(self) -> str:
        """The memory the app recalled into this chat request (it leads the newest message)."""
        last = str((self.body.get("messages") or [{}])[-1].get("content", ""))
        return last.split(MESSAGE_HEADING)[0] if MEMORY_HEADING in last else ""

    @property
    def kind(self) -> str:
        """What the app asked for: chat, title, extract, fold, journal, embed, or the path."""
        if self.path.endswith("/embeddings"):
            return "embed"
        if not self.path.endswith("/chat/completions") or not isinstance(self.body, dict):
            return self.path
        system = str((self.body.get("messages") or [{}])[0].get("content", ""))
        for marker, kind in _KINDS:
            if marker in system:
                return kind
        return "chat" if self.body.get("stream") else "other"


_KINDS = (
    ("short title", "title"),
    ("running summary", "fold"),
    ("private journal", "journal"),
    ("long-term memory", "extract"),
)


def split(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# Words that mean the same to the fake embedding model (and differ to BM25): enough meaning
# to tell semantic recall from lexical recall in tests.
CONCEPTS = {
    "sister": "sibling", "brother": "sibling", "siblings": "sibling",
    "paints": "art", "painter": "art", "artist": "art", "art": "art",
}  # fmt: skip


def _embed(text: str, dims: int = 64) -> list[float]:
    vec = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        word = CONCEPTS.get(word, word)
        h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
        vec[h % dims] += 1.0 if (h >> 8) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _tokens(text: str) -> int:
    """The fake's tokenizer: about four characters a token."""
    return len(text) // 4 + 1


def _prompt_tokens(body: dict) -> int:
    return sum(_tokens(str(m.get("content", ""))) for m in body.get("messages", []))


class FakeOpenAI:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = ("gpt-4o-mini", "test-model"),
        flavor: str = "openai",
        echo_key: bool = False,
        reject_stream_options: bool = False,
        chunk_delay: float = 0.0,
        port: int = 0,
        n_ctx: int | None = None,
        one_at_a_time: bool = False,
    ) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.flavor = flavor
        self.echo_key = echo_key  # every error quotes the Authorization sent, as some servers do
        self.reject_stream_options = reject_stream_options
        self.chunk_delay = chunk_delay
        self.n_ctx = n_ctx
        self.one_at_a_time = one_at_a_time
        self.slot = threading.Lock()  # held by the request being computed (one_at_a_time)
        self.waiting = 0  # requests waiting for the slot
        self.requests: list[Recorded] = []
        self._queue: deque[Behaviour] = deque()  # streamed chat replies
        self._completions: deque[Behaviour] = deque()  # whole answers (extraction, journal)
        self._titles: deque[Behaviour] = deque()  # a session's title, asked after its first reply
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next streamed chat requests, one each (FIFO)."""
        self._enqueue(self._queue, behaviours)

    def script_completion(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next non-streamed requests (memory extraction, journal)."""
        self._enqueue(self._completions, behaviours)

    def script_title(self, *behaviours: Behaviour) -> None:
        """Queue answers to title requests (else: "Notes on" and the first three words)."""
        self._enqueue(self._titles, behaviours)

    def _enqueue(self, queue: deque[Behaviour], behaviours: Sequence[Behaviour]) -> None:
        with self._lock:
            for b in behaviours:
                queue.extend([b] * b.times if isinstance(b, Error) else [b])

    def chat_requests(self) -> list[Recorded]:
        """Chat requests: the conversation itself."""
        return [r for r in self._completion_posts() if r.kind == "chat"]

    def completion_requests(self) -> list[Recorded]:
        """Background requests: memory extraction, journal entries, folding (not titles)."""
        return [r for r in self._completion_posts() if r.kind not in ("chat", "title")]

    def title_requests(self) -> list[Recorded]:
        return [r for r in self._completion_posts() if r.kind == "title"]

    def embedding_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/embeddings")]

    def kinds(self) -> Counter[str]:
        """How many requests of each kind arrived."""
        with self._lock:
            return Counter(r.kind for r in self.requests)

    def overlapping(self) -> list[tuple[Recorded, Recorded]]:
        """Pairs of model requests that were being answered at the same time."""
        with self._lock:
            spans = [r for r in self.requests if r.method == "POST"]
        spans.sort(key=lambda r: r.started)
        return [
            (a, b)
            for i, a in enumerate(spans)
            for b in spans[i + 1 :]
            if b.started < (a.ended if a.ended is not None else math.inf)
        ]

    def _completion_posts(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def _next(self, body: dict) -> Behaviour:
        kind = Recorded("POST", "/chat/completions", {}, body).kind
        titling = kind == "title"
        queue = self._titles if titling else self._queue if kind == "chat" else self._completions
        with self._lock:
            if queue:
                return queue.popleft()
        if titling:
            said = str(body["messages"][-1].get("content", "")).removeprefix("User: ")
            said = said.split("\n")[0].split()
            return Reply("Notes on " + " ".join(said[:3]))
        if kind == "extract":
            return Reply('{"memories": []}')
        if kind == "fold":  # short, like a model
            said = re.findall(r"^User: (\S+ \S+ \S+)", body["messages"][-1]["content"], re.M)
            return Reply("So far the user said: " + "; ".join(said))
        last = next(
            (
                m.get("content", "")
                for m in reversed(body.get("messages", []))
                if m.get("role") == "user"
            ),
            "",
        )
        return Reply(f"Echo: {last.split(MESSAGE_HEADING + chr(10) * 2)[-1]}")  # not the memory


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        """Quiet when a client hangs up (as the OpenAI client does on a retry)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        with self._sockets_lock:
            self._sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[override]
        with self._sockets_lock:
            self._sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._sockets_lock:
            sockets = list(self._sockets)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------ plumbing

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None, headers=None) -> None:
        kind = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            404: "invalid_request_error",
            429: "rate_limit_exceeded",
        }.get(status, "server_error")
        if self.fake.echo_key:
            message += f" Invalid key: {self.headers.get('Authorization', '')}"
        payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        self._json(status, payload, headers)

    def _authorized(self) -> bool:
        if self.fake.api_key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {self.fake.api_key}":
            return True
        self._error(401, "Incorrect API key provided: sk-...redacted.", code="invalid_api_key")
        return False

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _record(self, body: Any) -> Recorded:
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec = Recorded(self.command, self.path, headers, body, time.monotonic())
        self.fake._record(rec)
        return rec

    @contextlib.contextmanager
    def _serving(self):
        """Take the server's one slot (``one_at_a_time``): wait for it as llama.cpp queues."""
        fake = self.fake
        if not fake.one_at_a_time:
            yield
            return
        with fake._lock:
            fake.waiting += 1
        try:
            fake.slot.acquire()
        finally:
            with fake._lock:
                fake.waiting -= 1
        try:
            yield
        finally:
            fake.slot.release()

    # ------------------------------------------------------------ routes

    def do_GET(self) -> None:
        rec = self._record(None)
        if not self._authorized():
            return
        fake = self.fake
        llama = fake.flavor == "llama.cpp"
        if self.path.rstrip("/").endswith("/models"):
            ids = fake.models
            if llama:
                ids = [f"/models/{m}.gguf" for m in ids]
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in ids]
            self._json(200, {"object": "list", "data": data})
        elif llama and self.path == "/props" and fake.n_ctx:
            settings = {"n_ctx": fake.n_ctx, "n_predict": -1}
            self._json(200, {"default_generation_settings": settings, "total_slots": 1})
        else:
            self._error(404, f"Unknown path {self.path}")
        rec.ended = time.monotonic()

    def do_POST(self) -> None:
        body = self._read_body()
        rec = self._record(body)
        if not self._authorized():
            return
        if body is None:
            self._error(400, "We could not parse the JSON body of your request.")
        elif self.path.endswith("/chat/completions"):
            with self._serving():
                self._chat(body)
        elif self.path.endswith("/embeddings"):
            with self._serving():
                self._embeddings(body)
        elif self.path == "/tokenize" and self.fake.flavor == "llama.cpp":
            self._json(200, {"tokens": list(range(_tokens(str(body.get("content", "")))))})
        else:
            self._error(404, f"Unknown path {self.path}")
        rec.ended = time.monotonic()

    def _embeddings(self, body: dict) -> None:
        if self.fake.flavor == "llama.cpp":
            self._error(404, "File Not Found")
            return
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else inputs
        data = [
            {"object": "embedding", "index": i, "embedding": _embed(text)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(t) // 4 + 1 for t in inputs)
        self._json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _chat(self, body: dict) -> None:
        fake = self.fake
        model = body.get("model", "")
        llama = fake.flavor == "llama.cpp"
        if fake.reject_stream_options and "stream_options" in body:
            self._error(400, "Unrecognized request argument supplied: stream_options")
            return
        if llama and (body.get("response_format") or {}).get("type") == "json_schema":
            self._error(500, "Unsupported response_format type: json_schema")
            return
        if not llama and model not in fake.models:
            self._error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
            return
        if fake.n_ctx and _prompt_tokens(body) + (body.get("max_tokens") or 0) > fake.n_ctx:
            self._error(400, "the request exceeds the available context size, try increasing it")
            return
        behaviour = fake._next(body)
        match behaviour:
            case Error():
                self._error(behaviour.status, behaviour.message, behaviour.code, behaviour.headers)
            case Hang():
                fake._stopping.wait(behaviour.seconds)
                self.close_connection = True
            case Malformed():
                self._sse_headers()
                self._send_raw(b"data: {not json\n\ndata: [[[\n\n")
                self.close_connection = True
            case Garbage():
                self._sse_headers()
                self._send_raw(behaviour.data)
            case Redirect():
                self.send_response(behaviour.status)
                self.send_header("Location", behaviour.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            case Cut():
                self._stream(body, split(behaviour.text)[: behaviour.after], None, None, cut=True)
            case Reply():
                chunks = behaviour.chunks or split(behaviour.text)
                finish = behaviour.finish_reason
                limit = body.get("max_tokens")
                if limit and len(chunks) > limit:  # a chunk is a token here
                    chunks, finish = chunks[:limit], "length"
                usage = behaviour.usage or (_prompt_tokens(body), len(chunks))
                if body.get("stream"):
                    self._stream(body, chunks, finish, usage, done=behaviour.done)
                else:
                    self._complete(body, "".join(chunks), finish, usage)

    def _complete(self, body: dict, text: str, finish: str, usage: tuple[int, int]) -> None:
        self._json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            },
        )

    def _sse_headers(self, chunked: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self._chunked = chunked
        self.end_headers()
        self.close_connection = True

    def _send_raw(self, data: bytes) -> None:
        if getattr(self, "_chunked", False):
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)
        self.wfile.flush()

    def _event(self, payload: Any) -> None:
        self._send_raw(f"data: {json.dumps(payload)}\n\n".encode())

    def _chunk(self, body: dict, delta: dict, finish: str | None, **extra: Any) -> dict:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    def _stream(
        self,
        body: dict,
        chunks: list[str],
        finish: str | None,
        usage: tuple[int, int] | None,
        cut: bool = False,
        done: bool = True,
    ) -> None:
        fake = self.fake
        self._sse_headers(chunked=not done)
        try:
            self._event(self._chunk(body, {"role": "assistant", "content": ""}, None))
            for piece in chunks:
                if fake._stopping.is_set():
                    return
                if fake.chunk_delay:
                    time.sleep(fake.chunk_delay)
                if fake.one_at_a_time and fake.waiting:  # as llama.cpp: another one waits
                    self._send_raw(b"data: [DONE]\n\n")
                    return
                self._event(self._chunk(body, {"content": piece}, None))
            if cut:
                self.connection.shutdown(socket.SHUT_RDWR)  # drop it: no finish, no [DONE]
                return
            self._event(self._chunk(body, {}, finish))
            wants_usage = (body.get("stream_options") or {}).get("include_usage")
            if usage and wants_usage and fake.flavor != "llama.cpp":
                self._event(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": body.get("model", ""),
                        "choices": [],
                        "usage": {
                            "prompt_tokens": usage[0],
                            "completion_tokens": usage[1],
                            "total_tokens": sum(usage),
                        },
                    }
                )
            if not done:
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send_raw(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client went away (cancelled): nothing to do


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible API on 127.0.0.1.")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--flavor", choices=["openai", "llama.cpp"], default="openai")
    ap.add_argument("--delay", type=float, default=0.02, help="seconds between streamed chunks")
    ap.add_argument("--api-key", default=None, help="require this key")
    ap.add_argument("--n-ctx", type=int, default=None, help="a context window (llama.cpp)")
    args = ap.parse_args()
    server = FakeOpenAI(
        port=args.port,
        flavor=args.flavor,
        chunk_delay=args.delay,
        api_key=args.api_key,
        n_ctx=args.n_ctx,
        one_at_a_time=args.flavor == "llama.cpp",
    )
    with server:
        print(f"fake OpenAI server at {server.url} (Ctrl+C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
