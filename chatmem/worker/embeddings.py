"""Semantic recall in the worker: one embedding model's vectors, in the store and in memory.

Vectors live in their own sharded table per model (``vectors/<model>/``), so switching models
never mixes spaces. Memories are embedded in the background, in batches, as they change; a
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

from chatmem.memory.models import Memory
from chatmem.memory.recall import MIN_COSINE
from chatmem.memory.vectors import VectorIndex, decode, digest, encode, unit
from chatmem.store.shards import ShardedTable

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

SCHEMA = 1
BATCH = 64  # texts per /v1/embeddings request
QUERY_TIMEOUT = 3.0  # seconds a request waits for its query's vector before going lexical
NEAREST = 50
_NOT_SERVED = {400, 404, 405, 422, 501}  # how servers say "no embeddings here / not this model"


def _folder_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._") or "model"


class Embeddings:
    def __init__(self, root: Path, model: str, notices: list[str]) -> None:
        self.model = model
        self.table = ShardedTable(
            root / "vectors" / _folder_name(model), "vectors", SCHEMA, notices
        )
        self.index = VectorIndex()
        self.made_from: dict[str, str] = {}  # memory id -> digest of the text embedded
        self.served: bool | None = None  # None until the server has been asked once
        self.loaded = False
        self._last: tuple[str, dict[str, float]] = ("", {})

    def load(self) -> None:
        for _, doc in self.table.load():
            try:
                vector = decode(doc["v"])
                if self.index.add(doc["id"], vector):
                    self.made_from[doc["id"]] = doc["d"]
            except (KeyError, TypeError, ValueError):
                continue  # a damaged vector is made again
        self.loaded = True

    def stale(self, memories: Iterable[Memory]) -> list[Memory]:
        return [m for m in memories if m.active and self.made_from.get(m.id) != digest(m.text())]

    async def catch_up(self, llm: LLM, memories: dict[str, Memory]) -> None:
        """Embed every live memory without a current vector, a batch at a time."""
        if not self.loaded:
            await asyncio.to_thread(self.load)
            # Memories deleted or replaced while the worker was not looking (``chatmem
            # memories rm``): their vectors would only crowd the nearest ones.
            gone = [i for i in self.made_from if i not in memories or not memories[i].active]
            self.forget(gone)
        todo = self.stale(memories.values())
        for start in range(0, len(todo), BATCH):
            batch = [m for m in todo[start : start + BATCH] if m.id in memories]
            texts = [m.text() for m in batch]
            vectors = await self._embed(llm, texts)
            if vectors is None:
                return
            docs = []
            for memory, text, raw in zip(batch, texts, vectors, strict=False):
                vector = unit(raw)
                if vector is None or not self.index.add(memory.id, vector):
                    log.info("embedding for %s unusable (empty or other dimensions)", memory.id)
                    continue
                self.made_from[memory.id] = digest(text)
                docs.append({"id": memory.id, "d": self.made_from[memory.id], "v": encode(vector)})
            self.table.put_many(docs)

    async def similar(self, llm: LLM, query: str) -> dict[str, float] | None:
        """Memory ids near ``query`` in meaning, with their cosine; None when that is unknown."""
        if self.served is False or not len(self.index) or not query.strip():
            return None
        try:
            vectors = await asyncio.wait_for(self._embed(llm, [query]), QUERY_TIMEOUT)
        except TimeoutError:
            log.info("query embedding timed out; recall is lexical for this request")
            return None
        vector = unit(vectors[0]) if vectors else None
        if vector is None:
            return None
        found = self.index.nearest(vector, NEAREST, MIN_COSINE)
        self._last = (query, found)
        return found

    def cached(self, query: str) -> dict[str, float]:
        """What ``similar`` found for this query last time (extraction reuses the reply's)."""
        return self._last[1] if self._last[0] == query else {}

    def forget(self, memory_ids: Iterable[str]) -> None:
        memory_ids = list(memory_ids)
        for memory_id in memory_ids:
            self.index.remove(memory_id)
            self.made_from.pop(memory_id, None)
        self.table.delete(memory_ids)

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
        self.table.close()
