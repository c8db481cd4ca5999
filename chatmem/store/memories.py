"""Memories on disk: a sharded TinyDB table, all loaded once into the worker's memory."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from chatmem.domain.memories import Memory
from chatmem.domain.records import RecordProblem
from chatmem.domain.records import memory as records
from chatmem.store.shards import ShardedTable

log = logging.getLogger(__name__)

SCHEMA = 1


class MemoryStore:
    def __init__(self, root: Path, notices: list[str], readonly: bool = False) -> None:
        self.table = ShardedTable(root / "memories", "memories", SCHEMA, notices, readonly)
        self.memories: dict[str, Memory] = {}
        damaged: Counter[str] = Counter()
        for shard, doc in self.table.load():
            try:
                memory = records.memory(doc, f"{shard} memory", trusted=True)
            except RecordProblem as exc:
                damaged[shard] += 1
                log.warning("%s", exc)
                continue
            self.memories[memory.id] = memory
        for shard, n in damaged.items():
            notices.append(f"{n:,} damaged memories in {shard} were skipped (left in the file).")

    def __len__(self) -> int:
        return len(self.memories)

    def __iter__(self) -> Iterator[Memory]:
        return iter(self.memories.values())

    def get(self, memory_id: str) -> Memory | None:
        return self.memories.get(memory_id)

    def put(self, memory: Memory) -> None:
        """Insert or replace one memory (one shard file is rewritten)."""
        self.table.put(memory.to_doc())
        self.memories[memory.id] = memory

    def put_many(self, memories: list[Memory]) -> None:
        """Insert in bulk: one write per shard touched (imports, benchmarks)."""
        self.table.put_many([m.to_doc() for m in memories])
        self.memories.update((m.id, m) for m in memories)

    def delete(self, memory_id: str) -> Memory | None:
        self.table.delete([memory_id])
        return self.memories.pop(memory_id, None)

    def close(self) -> None:
        self.table.close()
