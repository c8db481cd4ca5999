"""Worker start-up with a long history: launch to ready, then the first searches.

A profile of ``--messages`` messages over ``--sessions`` sessions and ``--memories`` memories
is written through the store's own bulk functions (the texts are LoCoMo turns, see
/work/shared/bench/locomo, varied so that they are not all alike). Then, several times, a
real worker process is started as the app starts it (``python -m chatmem.worker``, frames on
its stdin and stdout) and timed:

- ready: from spawning the process until its ``SessionLoaded`` (the profile is open);
- search: the first transcript search after that (``SearchSessions`` -> ``SearchResults``);
- memories: the first memory search after that (``ListMemories`` with words -> ``MemoryList``).

The first start of a run is shown apart: it may build what later starts only read (bytecode
caches, a persisted index). Prints each start and the medians. Target: ready <= 1 s at 100k
messages and 100k memories.

    python benchmarks/worker_ready.py [--messages 100000] [--memories 100000] [--runs 5]
    python benchmarks/worker_ready.py --source /path/to/other/checkout  # the same, other code
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOCOMO = Path("/work/shared/bench/locomo/locomo_dev.json")
SEARCHES = ("painting", "camping trip with the kids")
MEMORY_SEARCHES = ("sister", "adoption agency")
FILLER = ("today", "again", "lately", "finally", "honestly", "anyway", "maybe", "soon")


def corpus() -> list[str]:
    """The LoCoMo turns' texts (or generated sentences without the data set)."""
    if not LOCOMO.is_file():
        rng = random.Random(1)
        vocab = ["".join(rng.choice("abcdefghiklmnoprstu") for _ in range(6)) for _ in range(5000)]
        return [" ".join(rng.choices(vocab, k=rng.randint(6, 30))) for _ in range(4000)]
    texts = []
    for sample in json.loads(LOCOMO.read_text()):
        for key, turns in sample["conversation"].items():
            if key.startswith("session_") and isinstance(turns, list):
                texts += [t["text"] for t in turns if t.get("text")]
    return texts


def seed(data_dir: Path, messages: int, sessions: int, memories: int) -> None:
    """Write the profile through the stores' bulk functions."""
    from chatmem.protocol import ChatMessage, SessionInfo
    from chatmem.store.profile import Profile

    try:
        from chatmem.domain.memories import make_memory
        from chatmem.domain.records.session import SessionFile
    except ImportError:  # the layout before chatmem/domain
        from chatmem.memory.models import make_memory
        from chatmem.records.session import SessionFile

    rng = random.Random(7)
    texts = corpus()
    now = time.time()
    per = messages // sessions
    with Profile.open(data_dir, "default") as profile:
        batch: list[SessionFile] = []
        for s in range(sessions):
            start = now - (sessions - s) * 86400 / 3
            info = SessionInfo(f"s{s:06d}", f"Conversation {s}", start, 0, start)
            said = [
                ChatMessage(
                    f"m{s:06d}{n:04d}",
                    "user" if n % 2 == 0 else "assistant",
                    f"{rng.choice(texts)} {rng.choice(FILLER)} {n}",
                    start + n * 30,
                    tokens=30,
                )
                for n in range(per)
            ]
            batch.append(SessionFile(info, said))
            if len(batch) == 100:
                profile.sessions.add(batch)
                batch = []
        if batch:
            profile.sessions.add(batch)
        kinds = ("fact", "event", "person")
        made = []
        for i in range(memories):
            kind = kinds[i % 3]
            text = f"{rng.choice(texts)} {rng.choice(FILLER)}"
            person = {"name": f"Person {i}", "details": text}
            fields = person if kind == "person" else {"note": text}
            made.append(make_memory(kind, fields, now - rng.random() * 3e7))
        profile.memories.put_many(made)


class Worker:
    """A worker process spoken to in protocol frames, as ``chatmem.ui.link`` does."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatmem.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=env["PYTHONPATH"],  # "-m" imports from the working directory first
        )

    def send(self, request) -> None:
        from chatmem import protocol as p

        assert self.proc.stdin is not None
        self.proc.stdin.write(p.pack(request))
        self.proc.stdin.flush()

    def until(self, kind: type, request_id: str = ""):
        """Read events until one of ``kind`` (answering ``request_id``, if given)."""
        import pickle

        from chatmem import protocol as p

        assert self.proc.stdout is not None
        while True:
            header = self.proc.stdout.read(p._HEADER.size)
            if len(header) < p._HEADER.size:
                raise RuntimeError("the worker ended before answering")
            (size,) = p._HEADER.unpack(header)
            event = pickle.loads(self.proc.stdout.read(size))
            if isinstance(event, kind) and getattr(event, "request_id", "") in ("", request_id):
                return event

    def close(self) -> None:
        from chatmem import protocol as p

        self.send(p.Shutdown())
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(env: dict[str, str], settings, run: int) -> tuple[float, float, float]:
    """Seconds to ready, to the first transcript search, to the first memory search."""
    from chatmem import protocol as p

    begun = time.perf_counter()
    worker = Worker(env)
    try:
        request = p.Start(settings)
        worker.send(request)
        worker.until(p.SessionLoaded, request.id)
        ready = time.perf_counter() - begun
        asked = p.SearchSessions(SEARCHES[run % len(SEARCHES)])
        began = time.perf_counter()
        worker.send(asked)
        worker.until(p.SearchResults, asked.id)
        searched = time.perf_counter() - began
        listing = p.ListMemories(MEMORY_SEARCHES[run % len(MEMORY_SEARCHES)])
        began = time.perf_counter()
        worker.send(listing)
        worker.until(p.MemoryList, listing.id)
        listed = time.perf_counter() - began
    finally:
        worker.close()
    return ready, searched, listed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--sessions", type=int, default=1_000)
    ap.add_argument("--memories", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--source", help="run chatmem from this checkout instead")
    args = ap.parse_args()
    root = Path(args.source or Path(__file__).resolve().parent.parent).resolve()
    sys.path.insert(0, str(root))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from startup import isolated_env

    from chatmem.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        env = {**isolated_env(tmp), "PYTHONPATH": str(root)}
        settings, _ = load_settings(env=env, cwd=Path(tmp))
        began = time.perf_counter()
        seed(Path(settings.data_dir), args.messages, args.sessions, args.memories)
        print(
            f"chatmem from {root}: {args.messages:,} messages in {args.sessions:,} sessions, "
            f"{args.memories:,} memories (written in {time.perf_counter() - began:.1f} s)"
        )
        print(f"{'start':<8} {'ready':>8} {'search':>8} {'memories':>8}   (ms)")
        figures = []
        for run in range(args.runs + 1):
            ready, searched, listed = start(env, settings, run)
            name = "first" if run == 0 else f"#{run}"
            print(f"{name:<8} {ready * 1000:8.0f} {searched * 1000:8.0f} {listed * 1000:8.0f}")
            if run:
                figures.append((ready, searched, listed))
        med = [statistics.median(column) * 1000 for column in zip(*figures, strict=True)]
        print(f"{'median':<8} {med[0]:8.0f} {med[1]:8.0f} {med[2]:8.0f}   (target: ready <= 1000)")


if __name__ == "__main__":
    main()
