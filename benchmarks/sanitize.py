"""What the sanitizing edge (``chatmem.text.clean``) costs per event entering the UI.

Times ``clean`` on a streamed delta, and on a session of 200 messages of 2,000 characters
as it opens (clean text, and with a control sequence in every message). Prints the median of
several runs in microseconds.

    python benchmarks/sanitize.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.text import clean


def median_us(event: p.Event, runs: int = 7, loops: int = 50) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            clean(event)
        times.append((time.perf_counter() - start) / loops)
    return statistics.median(times) * 1e6


def session(body: str) -> p.SessionLoaded:
    messages = tuple(
        p.ChatMessage(f"m{i}", "user" if i % 2 else "assistant", body, 0.0) for i in range(200)
    )
    info = p.SessionInfo("s1", "A title", 0.0, len(messages))
    return p.SessionLoaded(info, messages, False, True, Settings())


def main() -> None:
    text = ("lorem ipsum dolor sit amet " * 80)[:2000]
    cases = {
        "ReplyDelta (24 chars)": p.ReplyDelta("m1", "a streamed piece of text", "r1"),
        "SessionLoaded, 200 x 2,000 chars, clean": session(text),
        "SessionLoaded, 200 x 2,000 chars, ESC in each": session(text + "\x1b[2J"),
    }
    for name, event in cases.items():
        print(f"{name:<48} {median_us(event):>10,.1f} us")


if __name__ == "__main__":
    main()
