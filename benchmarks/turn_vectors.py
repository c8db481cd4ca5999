"""What ranking earlier messages by meaning costs at 100k messages.

A profile is filled with ``--messages`` messages in sessions of 50 (the worker's own session
store), then measured as the worker runs it:
- embed: the background embedder's catch-up over every message (batches of 64, vectors kept
  in ``vectors/<model>/turns/``). The vectors come from a **fake, instant embedder** (random
  384-dimension unit vectors, the size of all-MiniLM-L6-v2) so this is the worker's own
  cost; with ``--embeddings-url`` a sample of real chat messages (LoCoMo's turns when the
  shared split is there: the synthetic words here cut into several word pieces each) is
  also sent to a real endpoint and its rate is extrapolated to the whole history (the
  model's cost, which dominates);
- disk: the size of the stored turn vectors;
- memory: the worker's resident memory before and after the vectors are loaded at start;
- load: reading the stored vectors back (in the background, after the worker is ready);
- recall: ``MemoryService.build`` for a question with its (precomputed) query vector:
  nearest messages and memories, the blended ranking, the prompt section; median and p95.

    python benchmarks/turn_vectors.py [--messages 100000] [--embeddings-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.memory_store import sentence, vocabulary
from benchmarks.retrieval_locomo import default_data
from chatmem.domain.tokens import TokenCounter
from chatmem.protocol import ChatMessage
from chatmem.services.embeddings import Embeddings
from chatmem.services.memories import open_profile
from chatmem.store.profile import Profile

DIMENSIONS = 384
PER_SESSION = 50
MODEL = "bench-embedding"


class InstantEmbedder:
    """Stands in for the LLM client: random unit vectors, no network, no model."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(1)
        self.texts = 0

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        self.texts += len(texts)
        return self.rng.standard_normal((len(texts), DIMENSIONS), dtype=np.float32).tolist()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def real_rate(url: str, texts: list[str]) -> float:
    """Texts a second the endpoint embeds, in the worker's batches."""
    from benchmarks.embedcache import BATCH, EmbeddingCache

    cache = EmbeddingCache(url, folder=Path(tempfile.mkdtemp()))
    start = time.perf_counter()
    for at in range(0, len(texts), BATCH):
        cache._embed(texts[at : at + BATCH])
    return len(texts) / (time.perf_counter() - start)


def chat_sample(count: int) -> list[str]:
    """Up to ``count`` real chat messages from the shared LoCoMo split, if it is there."""
    found = Path(default_data())
    if not found.exists():
        return []
    texts = []
    for sample in json.loads(found.read_text()):
        conv = sample["conversation"]
        texts += [t["text"] for key, turns in conv.items() if key[-1].isdigit() for t in turns]
    return texts[:count]


def fill(root: Path, count: int, rng: random.Random) -> list[str]:
    vocab = vocabulary(rng)
    said = []
    with Profile.open(root, "bench") as profile:
        for first in range(0, count, PER_SESSION):
            session = profile.sessions.create(1e9 + first)
            messages = [
                ChatMessage(
                    f"m{n}", "user" if n % 2 else "assistant", sentence(rng, vocab), 1e9 + n
                )
                for n in range(first, min(first + PER_SESSION, count))
            ]
            profile.sessions.extend(session.id, messages)
            said += [m.content for m in messages[:2]]
    return said


async def measure(count: int, url: str | None, sample: int) -> None:
    rng = random.Random(count)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        said = fill(root, count, rng)
        profile, service = open_profile(root, "bench", time.time)
        service.loaded()
        before = rss_mb()
        embedder = InstantEmbedder()
        service.embeddings = Embeddings(profile.root, MODEL, [])
        start = time.perf_counter()
        await service.embeddings.catch_up(embedder, service.store.memories, service.recall.turns)
        embed_s = time.perf_counter() - start
        stored = service.embeddings.turns.table.folder
        disk = sum(f.stat().st_size for f in stored.glob("shard-*.json")) / 2**20
        service.embeddings.close()
        service.embeddings = None
        import gc

        gc.collect()
        base = rss_mb()
        again = Embeddings(profile.root, MODEL, [])
        start = time.perf_counter()
        again.load()
        load_s = time.perf_counter() - start
        loaded = rss_mb()
        service.embeddings = again
        counter = TokenCounter("gpt-4o-mini")
        times = []
        for question in rng.sample(said, 40):
            query = embedder.rng.standard_normal(DIMENSIONS).astype(np.float32)
            query /= np.linalg.norm(query)
            start = time.perf_counter()
            similar = again.near(query)
            service.recall.build(
                question, service.store.memories, counter, 2000, time.time(), "", similar
            )
            times.append((time.perf_counter() - start) * 1000)
        again.close()
        profile.close()
    times.sort()
    print(f"{count:,} messages in {count // PER_SESSION:,} sessions")
    print(
        f"  embed (fake instant model): {embed_s:6.1f} s for {embedder.texts:,} texts "
        f"({embedder.texts / embed_s:,.0f}/s: the worker's own cost: batching, storing)"
    )
    if url:
        rate = real_rate(url, chat_sample(sample) or said[:sample])
        print(
            f"  embed (all-MiniLM-L6-v2 at {url}): {rate:,.0f} texts/s on {sample} messages "
            f"-> {count / rate / 60:,.1f} min for all, in the background"
        )
    print(f"  disk: {disk:,.1f} MB of turn vectors ({disk * 2**20 / count:,.0f} bytes each)")
    print(
        f"  worker memory: {before:,.0f} MB after start (messages indexed), "
        f"+{loaded - base:,.0f} MB with the vectors loaded in {load_s:.2f} s"
    )
    p95 = times[int(len(times) * 0.95)]
    print(f"  recall with meaning: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--embeddings-url", help="also measure a real endpoint's rate")
    ap.add_argument("--sample", type=int, default=512, help="messages sent to the endpoint")
    args = ap.parse_args()
    asyncio.run(measure(args.messages, args.embeddings_url, args.sample))


if __name__ == "__main__":
    main()
