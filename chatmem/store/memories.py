"""Memories on disk: a sharded TinyDB table, all loaded once into the worker's memory (at
first use, which the worker makes in a thread of its own while it opens the session).

The document of a memory is declared here (``memory_doc``), so that a field added to the
record does not change the files; a change to it is a schema step (``SCHEMA``)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatmem.domain.memories import Memory
from chatmem.domain.records import RecordProblem
from chatmem.domain.records import memory as records
from chatmem.store.shards import ShardedTable

log = logging.getLogger(__name__)

SCHEMA = 1
# The keys of a memory's document, in the order they are written.
MEMORY_FIELDS = (
    "id",
    "kind",
    "fields",
    "created",
    "updated",
    "session_id",
    "message_ids",
    "pinned",
    "superseded_by",
    "history",
)


def memory_doc(memory: Memory) -> dict[str, Any]:
    """A memory as the memory files (and an export of memories) hold it."""
    doc = {key: getattr(memory, key) for key in MEMORY_FIELDS}
    doc["message_ids"] = list(memory.message_ids)
    doc["history"] = [{"at": v.at, "by": v.by, "fields": v.fields} for v in memory.history]
    return doc


def memory_from_doc(doc: Any, where: str) -> Memory:
    """A stored memory document, checked (``RecordProblem`` if damaged)."""
    return records.memory(doc, where, trusted=True)


class MemoryStore:
    def __init__(self, root: Path, notices: list[str], readonly: bool = False) -> None:
        self.table = ShardedTable(root / "memories", "memories", SCHEMA, notices, readonly)
        self.notices = notices
        self._memories: dict[str, Memory] | None = None
        self._loading = threading.Lock()

    @property
    def memories(self) -> dict[str, Memory]:
        """Every memory by id, read from the files at first use."""
        if self._memories is None:
            with self._loading:
                if self._memories is None:
                    self._memories = self._load()
        return self._memories

    def load(self, notices: list[str] | None = None) -> None:
        """Read the files now (``notices``: where what they found wrong is told, instead of
        the profile's list)."""
        told = self.notices
        self.notices = self.table.notices = told if notices is None else notices
        try:
            _ = self.memories
        finally:
            self.notices = self.table.notices = told

    def _load(self) -> dict[str, Memory]:
        memories: dict[str, Memory] = {}
        damaged: Counter[str] = Counter()
        for shard, doc in self.table.load():
            try:
                memory = memory_from_doc(doc, f"{shard} memory")
            except RecordProblem as exc:
                damaged[shard] += 1
                log.warning("%s", exc)
                continue
            memories[memory.id] = memory
        for shard, n in damaged.items():
            self.notices.append(
                f"{n:,} damaged memories in {shard} were skipped (left in the file)."
            )
        return memories

    def __len__(self) -> int:
        return len(self.memories)

    def __iter__(self) -> Iterator[Memory]:
        return iter(self.memories.values())

    def get(self, memory_id: str) -> Memory | None:
        return self.memories.get(memory_id)

    def put(self, memory: Memory) -> None:
        """Insert or replace one memory (one shard file is rewritten)."""
        memories = self.memories  # the files are read before one is written
        self.table.put(memory_doc(memory))
        memories[memory.id] = memory

    def put_many(self, memories: list[Memory]) -> None:
        """Insert in bulk: one write per shard touched (imports, benchmarks)."""
        loaded = self.memories
        self.table.put_many([memory_doc(m) for m in memories])
        loaded.update((m.id, m) for m in memories)

    def delete(self, memory_id: str) -> Memory | None:
        loaded = self.memories
        self.table.delete([memory_id])
        return loaded.pop(memory_id, None)

    def close(self) -> None:
        with self._loading:  # not while a thread reads them
            self.table.close()
