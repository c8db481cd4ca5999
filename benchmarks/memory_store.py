"""The memory store and recall at 1k / 10k / 100k memories: ms per operation.

For each size a profile is filled (in bulk), then measured as the worker uses it:
- ready:  open the profile and index every memory (the worker's start-up),
- insert: store one new memory (one shard file rewritten),
- update: store a new version of an existing memory,
- recall: rank and fit memories into the default 2,000-token budget for a message,
- vectors: load one 512-dimension embedding per memory (done in the background after ready),
- recall+meaning: the same with semantic similarity (nearest vectors, then the blended
  ranking); the query's own embedding is a network call and is not counted.
Prints median and p95 per operation. Targets at 100k: recall < 50 ms, a write < 20 ms,
ready < 3 s.

    python benchmarks/memory_store.py [--sizes 1000 10000 100000] [--ops 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from chatmem.domain.memories import make_memory
from chatmem.domain.recall import MIN_COSINE, Similar
from chatmem.domain.tokens import TokenCounter
from chatmem.domain.vectors import encode, unit
from chatmem.services.embeddings import NEAREST, Embeddings
from chatmem.services.memories import open_profile
from chatmem.store.profile import Profile

KINDS = ("fact", "event", "person")
DIMENSIONS = 512


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "abcdefghijklmnoprstuvw"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(size)]


def sentence(rng: random.Random, vocab: list[str]) -> str:
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 16)))


def fake_memory(rng: random.Random, vocab: list[str], now: float):
    kind = rng.choice(KINDS)
    text = sentence(rng, vocab)
    fields = {"person": {"name": text.split()[0].title(), "details": text}}.get(
        kind, {"note": text}
    )
    return make_memory(kind, fields, now - rng.random() * 3e7)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def stats(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):8.2f} ms  p95 {p95:8.2f} ms"


def measure(size: int, ops: int) -> None:
    rng = random.Random(size)
    vocab = vocabulary(rng)
    now = time.time()
    counter = TokenCounter("gpt-4o-mini")
    with tempfile.TemporaryDirectory() as tmp:
        with Profile.open(Path(tmp), "bench") as profile:
            profile.memories.put_many([fake_memory(rng, vocab, now) for _ in range(size)])
        start = time.perf_counter()
        profile, service = open_profile(Path(tmp), "bench", time.time)
        service.loaded()  # the memories, read in a thread
        ready = time.perf_counter() - start
        ids = list(profile.memories.memories)
        inserts = [timed(lambda: service._put(fake_memory(rng, vocab, now))) for _ in range(ops)]
        updates = []
        for _ in range(ops):
            old = profile.memories.get(rng.choice(ids))
            assert old is not None
            new = old.revised(
                {"note": sentence(rng, vocab)}
                if old.kind != "person"
                else {"details": sentence(rng, vocab)},
                now,
                "user",
            )
            updates.append(timed(lambda new=new: service._put(new)))
        memories = profile.memories.memories
        recall = service.recall

        def build(similar=None) -> None:
            recall.build(sentence(rng, vocab), memories, counter, 2000, now, "", similar)

        recalls = [timed(build) for _ in range(ops)]
        embeddings = fill_vectors(Path(tmp), ids, np.random.default_rng(size))
        loaded = timed(embeddings.load) / 1000
        index = embeddings.memories.index

        def build_with_meaning() -> None:
            query = unit(np.random.default_rng().standard_normal(DIMENSIONS))
            assert query is not None
            build(Similar(index.nearest(query, NEAREST, MIN_COSINE - 0.35), {}))  # at random

        semantic = [timed(build_with_meaning) for _ in range(ops)]
        embeddings.close()
        profile.close()
    print(f"{size:>7,} memories  ready {ready:6.2f} s   vectors loaded {loaded:6.2f} s")
    print(f"          insert  {stats(inserts)}")
    print(f"          update  {stats(updates)}")
    print(f"          recall  {stats(recalls)}")
    print(f"  recall+meaning  {stats(semantic)}")


def fill_vectors(root: Path, ids: list[str], rng: np.random.Generator) -> Embeddings:
    """Store one random unit vector per memory, as the background embedder would have."""
    with_vectors = Embeddings(root, "bench-embedding", [])
    docs = []
    for memory_id in ids:
        vector = unit(rng.standard_normal(DIMENSIONS))
        assert vector is not None
        docs.append({"id": memory_id, "d": "", "v": encode(vector)})
    with_vectors.memories.table.put_many(docs)
    with_vectors.close()
    return Embeddings(root, "bench-embedding", [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--ops", type=int, default=40)
    args = ap.parse_args()
    for size in args.sizes:
        measure(size, args.ops)
    print("targets at 100k: recall < 50 ms, a write < 20 ms, ready < 3 s")


if __name__ == "__main__":
    main()
