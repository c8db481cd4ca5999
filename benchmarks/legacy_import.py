"""``chatmem import legacy`` of a prototype chat.json with N messages: seconds, and how many
store files were written (the import must write each file once, not once per message).

    python benchmarks/legacy_import.py [--messages 6000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatmem.store import atomic
from chatmem.store.legacy import import_paths
from chatmem.store.profile import Profile


def chat(messages: int) -> list[dict]:
    return [
        {
            "timestamp": f"Nov 02 2024 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}",
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"Message {i}: " + "words " * 40,
        }
        for i in range(messages)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    writes = 0
    real = atomic.write_private

    def counting(*a, **k):
        nonlocal writes
        writes += 1
        real(*a, **k)

    atomic.write_private = counting
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "chat.json"
            source.write_text(json.dumps(chat(args.messages)))
            writes = 0
            start = time.perf_counter()
            with Profile.open(Path(tmp) / "data", "default") as profile:
                report = import_paths([source], profile)
            times.append(time.perf_counter() - start)
            assert report.added["session"] == 1, report.lines()
    print(
        f"legacy import of {args.messages:,} messages: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f} s, {args.runs} runs), {writes} store file writes"
    )


if __name__ == "__main__":
    main()
