"""Semantic recall in the worker: one embedding model's vectors, in the store and in memory.

Vectors live in their own sharded tables per model (``vectors/<model>/`` for memories and
``vectors/<model>/turns/`` for the messages of every session), so switching models never mixes
spaces. Memories and messages are embedded in the background, in batches, as they come; a
request embeds only its query, with a short timeout. A server without ``/v1/embeddings`` turns
semantic recall off for the run, and recall stays lexical.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from chatmem.domain.memories import Memory
from chatmem.domain.recall import MIN_COSINE, Similar, TurnStore
from chatmem.domain.vectors import VectorIndex, decode, digest, encode, unit
from chatmem.store.shards import ShardedTable

if TYPE_CHECKING:
    import numpy as np

    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

SCHEMA = 1
BATCH = 64  # texts per /v1/embeddings request
QUERY_TIMEOUT = 3.0  # seconds a request waits for its query's vector before going lexical
NEAREST = 50  # memories, and earlier messages, looked at per query
_NOT_SERVED = {400, 404, 405, 422, 501}  # how servers say "no embeddings here / not this model"


def _folder_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._") or "model"


class Vectors:
    """One kind of thing's vectors: in memory, and in their sharded table."""

    def __init__(self, folder: Path) -> None:
        self.table = ShardedTable(folder, "vectors", SCHEMA, [])
        self.index = VectorIndex()
        self.made_from: dict[str, str] = {}  # id -> digest of the text embedded

    def load(self) -> None:
        for _, doc in self.table.load():
            try:
                vector = decode(doc["v"])
                if self.index.add(doc["id"], vector):
                    self.made_from[doc["id"]] = doc["d"]
            except (KeyError, TypeError, ValueError):
                continue  # a damaged vector is made again

    def keep(self, pairs: list[tuple[str, str]], vectors: list[list[float]]) -> None:
        """Store the vectors of (id, text) pairs."""
        docs = []
        for (key, text), raw in zip(pairs, vectors, strict=False):
            vector = unit(raw)
            if vector is None or not self.index.add(key, vector):
                log.info("embedding for %s unusable (empty or other dimensions)", key)
                continue
            self.made_from[key] = digest(text)
            docs.append({"id": key, "d": self.made_from[key], "v": encode(vector)})
        self.table.put_many(docs)

    def forget(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for key in keys:
            self.index.remove(key)
            self.made_from.pop(key, None)
        self.table.delete(keys)


class Embeddings:
    def __init__(self, root: Path, model: str, notices: list[str]) -> None:
        self.model = model
        folder = root / "vectors" / _folder_name(model)
        self.memories = Vectors(folder)
        self.turns = Vectors(folder / "turns")
        self.served: bool | None = None  # None until the server has been asked once
        self.loaded = False
        self._last: tuple[str, Similar] = ("", Similar({}, {}))

    def load(self) -> None:
        self.memories.load()
        self.turns.load()
        self.loaded = True

    def stale(self, memories: Iterable[Memory]) -> list[Memory]:
        made = self.memories.made_from
        return [m for m in memories if m.active and made.get(m.id) != digest(m.text())]

    async def catch_up(
        self, llm: LLM, memories: dict[str, Memory], turns: TurnStore | None = None
    ) -> None:
        """Embed every live memory, then every earlier message, without a current vector,
        a batch at a time."""
        listed = {t.id: t for t in turns.values()} if turns is not None else {}  # one read
        if not self.loaded:
            await asyncio.to_thread(self.load)
            # Memories deleted or replaced while the worker was not looking (``chatmem
            # memories rm``), messages of deleted sessions: their vectors would only crowd
            # the nearest ones.
            made = self.memories.made_from
            gone = [i for i in made if i not in memories or not memories[i].active]
            self.memories.forget(gone)
            self.turns.forget([i for i in self.turns.made_from if i not in listed])
        todo = [(m.id, m.text()) for m in self.stale(memories.values())]
        done = self.turns.made_from
        todo_turns = [(t.id, t.embedded()) for t in listed.values() if t.id not in done]
        for vectors, pairs, live in (
            (self.memories, todo, memories),
            (self.turns, todo_turns, listed),
        ):
            for start in range(0, len(pairs), BATCH):
                batch = [pair for pair in pairs[start : start + BATCH] if pair[0] in live]
                embedded = await self._embed(llm, [text for _, text in batch])
                if embedded is None:
                    return
                vectors.keep(batch, embedded)

    async def similar(self, llm: LLM, query: str) -> Similar | None:
        """Memories and earlier messages near ``query`` in meaning, with their cosine; None
        when that is unknown."""
        empty = not len(self.memories.index) and not len(self.turns.index)
        if self.served is False or empty or not query.strip():
            return None
        try:
            vectors = await asyncio.wait_for(self._embed(llm, [query]), QUERY_TIMEOUT)
        except TimeoutError:
            log.info("query embedding timed out; recall is lexical for this request")
            return None
        vector = unit(vectors[0]) if vectors else None
        if vector is None:
            return None
        found = self.near(vector)
        self._last = (query, found)
        return found

    def near(self, vector: np.ndarray) -> Similar:
        """The memories and messages nearest to a query's unit vector."""
        return Similar(
            self.memories.index.nearest(vector, NEAREST, MIN_COSINE),
            self.turns.index.nearest(vector, NEAREST, MIN_COSINE),
        )

    def cached(self, query: str) -> dict[str, float]:
        """The memories ``similar`` found for this query last time (extraction reuses them)."""
        return self._last[1].memories if self._last[0] == query else {}

    def forget(self, memory_ids: Iterable[str]) -> None:
        self.memories.forget(memory_ids)

    async def _embed(self, llm: LLM, texts: list[str]) -> list[list[float]] | None:
        import openai

        try:
            vectors = await llm.embed(texts, self.model)
        except openai.APIStatusError as exc:
            if exc.status_code in _NOT_SERVED or "embed" in str(exc).lower():
                if self.served is not False:
                    log.info(
                        "no embeddings from the server for %s (HTTP %s): recall stays lexical",
                        self.model,
                        exc.status_code,
                    )
                self.served = False
            else:
                log.info("embedding failed: HTTP %s", exc.status_code)
            return None
        except Exception as exc:
            log.info("embedding failed: %s", type(exc).__name__)
            return None
        self.served = True
        return vectors

    def close(self) -> None:
        self.memories.table.close()
        self.turns.table.close()
