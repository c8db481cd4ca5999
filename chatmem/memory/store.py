"""Memories on disk: TinyDB shards of bounded size, all loaded once into the worker's memory.

A write rewrites one shard (at most ``SHARD_SIZE`` memories), so it costs the same with 1k
or 100k memories; reads never touch the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tinydb.table import Document

from chatmem.memory.models import Memory
from chatmem.store.atomic import ForeignFile, NewerSchema, move_aside, open_db, private_dir

SCHEMA = 1
SHARD_SIZE = 1000
_SHARD = re.compile(r"^shard-(\d{5})\.json$")


class MemoryStore:
    def __init__(self, root: Path, notices: list[str]) -> None:
        self.folder = private_dir(root / "memories")
        self.notices = notices
        self.memories: dict[str, Memory] = {}
        self._where: dict[str, tuple[int, int]] = {}  # memory id -> (shard, doc_id)
        self._shards: dict[int, object] = {}
        self._sizes: dict[int, int] = {}
        for path in sorted(self.folder.glob("shard-*.json")):
            match = _SHARD.match(path.name)
            if match:
                self._load(int(match.group(1)), path)

    def _load(self, number: int, path: Path) -> None:
        try:
            db = open_db(path, "memories", SCHEMA)
        except NewerSchema as exc:
            self.notices.append(f"{exc} Memories in it are not shown.")
            return
        except ForeignFile:
            moved = move_aside(path)
            self.notices.append(f"{path} was not a chatmem memory file; it was moved to {moved}.")
            return
        self._shards[number] = db
        docs = (db.storage.read() or {}).get("memories", {})  # raw: no per-document copies
        self._sizes[number] = len(docs)
        for doc_id, doc in docs.items():
            try:
                memory = Memory.from_doc(doc, trusted=True)
            except (KeyError, ValueError, TypeError, AttributeError):
                self.notices.append(f"A damaged memory in {path.name} was skipped.")
                continue
            self.memories[memory.id] = memory
            self._where[memory.id] = (number, int(doc_id))

    def _table(self, number: int):
        db = self._shards.get(number)
        if db is None:
            db = self._shards[number] = open_db(
                self.folder / f"shard-{number:05d}.json", "memories", SCHEMA
            )
            self._sizes[number] = 0
        return db.table("memories")  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.memories)

    def __iter__(self) -> Iterator[Memory]:
        return iter(self.memories.values())

    def get(self, memory_id: str) -> Memory | None:
        return self.memories.get(memory_id)

    def put(self, memory: Memory) -> None:
        """Insert or replace one memory (one shard file is rewritten)."""
        where = self._where.get(memory.id)
        if where is None:
            number = max(self._sizes, default=0)
            if self._sizes.get(number, 0) >= SHARD_SIZE:
                number += 1
            table = self._table(number)
            doc_id = table.insert(memory.to_doc())
            self._sizes[number] += 1
            self._where[memory.id] = (number, doc_id)
        else:
            number, doc_id = where
            self._table(number).upsert(Document(memory.to_doc(), doc_id=doc_id))
        self.memories[memory.id] = memory

    def put_many(self, memories: list[Memory]) -> None:
        """Insert new memories in bulk: one write per shard touched (imports, benchmarks)."""
        fresh = [m for m in memories if m.id not in self._where]
        for memory in memories:
            if memory.id in self._where:
                self.put(memory)
        while fresh:
            number = max(self._sizes, default=0)
            if self._sizes.get(number, 0) >= SHARD_SIZE:
                number += 1
            table = self._table(number)
            batch, fresh = (
                fresh[: SHARD_SIZE - self._sizes[number]],
                fresh[SHARD_SIZE - self._sizes[number] :],
            )
            doc_ids = table.insert_multiple(m.to_doc() for m in batch)
            self._sizes[number] += len(batch)
            for memory, doc_id in zip(batch, doc_ids, strict=True):
                self._where[memory.id] = (number, doc_id)
                self.memories[memory.id] = memory

    def delete(self, memory_id: str) -> Memory | None:
        memory = self.memories.pop(memory_id, None)
        where = self._where.pop(memory_id, None)
        if where is not None:
            self._table(where[0]).remove(doc_ids=[where[1]])
        return memory

    def close(self) -> None:
        for db in self._shards.values():
            db.close()  # type: ignore[attr-defined]
        self._shards.clear()
