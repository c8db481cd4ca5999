"""How long the UI's event loop stalls while the worker streams and saves a long reply.

Runs the real app (headless) with the real worker process against the fake server, which
streams a 5,000-token reply at full speed. A probe task in the UI loop sleeps 5 ms at a
time and records how late it wakes. Prints p50/p99/max lag (targets: p99 < 16 ms,
max < 50 ms).

    python benchmarks/ui_stall.py [--tokens 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_openai import FakeOpenAI, Reply

TICK = 0.005


async def measure(tokens: int) -> list[float]:
    from chatmem import protocol as p
    from chatmem.config import load_settings
    from chatmem.ui.app import ChatmemApp

    settings, _ = load_settings()
    app = ChatmemApp(settings, new_session=True, blink=False)
    lags: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        while app.screen.query_one("#usage").render() == "Starting…" or not app.settings.model:
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        done = asyncio.Event()
        original = app.chat.handle

        async def watch(event):
            await original(event)
            if isinstance(event, p.ReplyDone | p.ReplyFailed):
                done.set()

        app.chat.handle = watch
        app.send(p.SendMessage("Write a long story."))
        start = time.perf_counter()
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            lags.append(time.perf_counter() - before - TICK)
            if os.environ.get("STALL_TRACE") and lags[-1] > 0.05:
                print(f"  stall {lags[-1] * 1000:.0f} ms at {before - start:.2f} s")
        await pilot.pause(0.2)
    return lags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3, help="fresh app and worker each round")
    args = ap.parse_args()
    words = [f"word{i % 97}" for i in range(args.tokens)]
    chunks = [w + (" " if i % 12 else "\n\n") for i, w in enumerate(words)]
    lags: list[float] = []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as server:
            server.script(Reply("".join(chunks), chunks=chunks))
            os.environ.update(
                XDG_CONFIG_HOME=f"{tmp}/config",
                XDG_DATA_HOME=f"{tmp}/data",
                XDG_STATE_HOME=f"{tmp}/state",
                OPENAI_BASE_URL=server.url,
                OPENAI_API_KEY="sk-bench",
                CHATMEM_MODEL="gpt-4o-mini",
            )
            start = time.perf_counter()
            found = asyncio.run(measure(args.tokens))
            print(
                f"round {round_ + 1}: {len(found)} probes in {time.perf_counter() - start:.1f} s,"
                f" max lag {max(found) * 1000:.1f} ms"
            )
            lags += found
    ms = sorted(lag * 1000 for lag in lags)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"streamed {args.tokens} chunks x {args.rounds} rounds; {len(ms)} probes")
    print(f"UI loop lag: p50 {statistics.median(ms):.1f} ms  p99 {p99:.1f} ms  max {ms[-1]:.1f} ms")
    print("targets: p99 < 16 ms, max < 50 ms")


if __name__ == "__main__":
    main()
