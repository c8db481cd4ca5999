"""The memory browser at 10k and 100k memories: ms from a keypress to the updated list.

The real app runs headless with its real worker process on a profile filled with synthetic
memories. Measured: opening the browser (F3 until the first list is shown; later openings
show the kept screen at once), and typing a filter one key at a time (each key event posted
as the terminal driver posts it, until the list for that text is in the widget; the paint
follows in the next frame). Prints median and p95. Target: < 100 ms at 10k.

    python benchmarks/browser.py [--sizes 10000 100000] [--words 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_store import fake_memory, vocabulary
from textual import events

from chatmem.config import Settings
from chatmem.store.profile import Profile
from chatmem.ui.app import ChatmemApp


def stats(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  (n={len(ms)})"


async def until(condition, timeout: float = 30.0) -> float:
    """Milliseconds until ``condition()`` holds, polled every millisecond."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.001)
    return (time.perf_counter() - start) * 1000


async def measure(size: int, words: int, home: Path) -> None:
    rng = random.Random(size)
    vocab = vocabulary(rng)
    data = home / "data" / "chatmem"
    now = time.time()
    with Profile.open(data, "bench") as profile:
        profile.memories.put_many([fake_memory(rng, vocab, now) for _ in range(size)])
    settings = Settings(
        base_url="http://127.0.0.1:9/v1",  # nothing listens: the browser needs no model
        model="gpt-4o-mini",
        profile="bench",
        embedding_model="off",
        data_dir=str(data),
        config_path=str(home / "config.toml"),
        state_dir=str(home / "state"),
    )
    app = ChatmemApp(settings, blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.chat.sub_title != "", timeout=60)  # the session is loaded
        await pilot.press("f3")
        browser = app.browser
        assert browser is not None

        def answered(before: str) -> bool:
            return browser._list_request != before and browser.listed == browser._list_request

        opened = await until(lambda: answered(""))
        keys = []
        for word in rng.sample(vocab, words):
            await pilot.press("slash")
            before = browser._list_request
            if browser.query_one("#filter").value:
                browser.query_one("#filter").value = ""
                await until(lambda before=before: answered(before))
            field = browser.query_one("#filter")
            for char in word[:4]:
                before = browser._list_request
                start = time.perf_counter()
                field.post_message(events.Key(char, char))  # as the terminal driver does
                await until(lambda before=before: answered(before))
                keys.append((time.perf_counter() - start) * 1000)
                await pilot.pause()  # let it paint before the next key
        rows = len(browser.rows)
    print(f"{size:>7,} memories  open   {opened:7.1f} ms (first time: the screen is built)")
    print(f"                  filter {stats(keys)}  (last list: {rows} rows)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--words", type=int, default=8)
    args = ap.parse_args()
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
            os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
            asyncio.run(measure(size, args.words, Path(tmp)))
    print("target: < 100 ms from keypress to updated list at 10k")


if __name__ == "__main__":
    main()
