"""Saving one message: ms per append to a session, as the number of sessions grows.

An append writes the session's own file only (the index of every session is written at
``flush``; counts a crash left stale are recounted when the profile opens), so its cost
should not grow with the number of sessions. Real TinyDB files in a temp dir, fsync
included. Prints the median and 90th percentile per append for each number of sessions.

    python benchmarks/append.py [--sessions 10 1000 5000] [--messages 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatmem import protocol as p
from chatmem.store.profile import Profile


def measure(sessions: int, messages: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp, Profile.open(Path(tmp), "bench") as profile:
        store = profile.sessions
        for n in range(sessions):
            store.create(1_700_000_000.0 + n, f"Session {n}", session_id=f"s{n:05d}")
        times = []
        for n in range(messages):
            message = p.ChatMessage(f"m{n}", "user", f"message number {n} " * 20, 1.8e9 + n)
            start = time.perf_counter()
            store.append("s00000", message)
            times.append((time.perf_counter() - start) * 1000)
        return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[10, 1000, 5000])
    ap.add_argument("--messages", type=int, default=200)
    args = ap.parse_args()
    for sessions in args.sessions:
        times = sorted(measure(sessions, args.messages))
        p90 = times[int(len(times) * 0.9)]
        print(
            f"{sessions:>6,} sessions: {statistics.median(times):6.2f} ms median, "
            f"{p90:6.2f} ms p90 per append"
        )


if __name__ == "__main__":
    main()
