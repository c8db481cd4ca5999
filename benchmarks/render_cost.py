"""What each reply shape costs the UI to stream and show: CPU seconds and widgets mounted.

The shapes of ``stream_input.py``, streamed at full speed by the fake server into the real
app (in-process worker, headless, 120x40). CPU seconds are the process's own, so the figure
holds on a loaded machine where ``stream_input.py``'s latencies do not; the widget count is
what Textual lays out at every refresh (its cost grows with it).

    python benchmarks/render_cost.py [--shapes code1000,list]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream_input import SHAPES

from tests.conftest import settings_for
from tests.fake_openai import FakeOpenAI, Reply
from tests.harness import make_app, settle


async def measure(shape: str) -> tuple[float, float, int]:
    text, chunks, _ = SHAPES[shape]()
    with FakeOpenAI() as server, tempfile.TemporaryDirectory() as tmp:
        server.script(Reply(text, chunks=chunks))
        app = make_app(settings_for(Path(tmp), server.url))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.screen.query_one("PromptInput").insert("Write it all out.")
            cpu, wall = time.process_time(), time.perf_counter()
            await pilot.press("enter")
            while True:
                await pilot.pause(0.05)
                views = app.screen.transcript.views
                reply = views[-1] if views else None
                if app.screen.inflight is None and reply and not reply.rendering:
                    break
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            return cpu, wall, len(list(app.screen.walk_children()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    args = ap.parse_args()
    print(f"{'shape':<10} {'cpu s':>7} {'wall s':>7} {'widgets':>8}")
    for shape in args.shapes.split(","):
        cpu, wall, widgets = asyncio.run(measure(shape))
        print(f"{shape:<10} {cpu:7.2f} {wall:7.2f} {widgets:8,}", flush=True)


if __name__ == "__main__":
    main()
