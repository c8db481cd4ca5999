"""A table split over TinyDB files of bounded size, all loaded once into memory.

A write rewrites one shard (at most ``SHARD_SIZE`` documents), so it costs the same with 1k
or 100k documents; reads never touch the files. Documents are keyed by their ``"id"`` field.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tinydb.table import Document

from chatmem.store.atomic import NewerSchema, open_db, open_or_set_aside, private_dir

SHARD_SIZE = 1000
_SHARD = re.compile(r"^shard-(\d{5})\.json$")


class ShardedTable:
    def __init__(
        self, folder: Path, kind: str, schema: int, notices: list[str], readonly: bool = False
    ) -> None:
        self.folder = folder if readonly else private_dir(folder)
        self.readonly = readonly
        self.kind = kind
        self.schema = schema
        self.notices = notices
        self._where: dict[str, tuple[int, int]] = {}  # id -> (shard, doc_id)
        self._shards: dict[int, Any] = {}
        self._sizes: dict[int, int] = {}
        self._newer: set[int] = set()  # shards a newer chatmem wrote: left alone

    def load(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored document as (shard file name, raw document); read once, at start."""
        for path in sorted(self.folder.glob("shard-*.json")):
            match = _SHARD.match(path.name)
            if not match:
                continue
            number = int(match.group(1))
            try:
                db, lost = open_or_set_aside(
                    path,
                    self.kind,
                    self.schema,
                    self.notices,
                    "what it held is not shown.",
                    self.readonly,
                )
            except NewerSchema as exc:
                self.notices.append(f"{exc} What is in it is not shown.")
                self._newer.add(number)
                continue
            if lost:
                continue
            self._shards[number] = db
            docs = (db.storage.read() or {}).get(self.kind, {})  # raw: no per-document copies
            self._sizes[number] = len(docs)
            for doc_id, doc in docs.items():
                if isinstance(doc, dict) and isinstance(doc.get("id"), str):
                    self._where[doc["id"]] = (number, int(doc_id))
                yield path.name, doc

    def _table(self, number: int):
        db = self._shards.get(number)
        if db is None:
            path = self.folder / f"shard-{number:05d}.json"
            db = self._shards[number] = open_db(path, self.kind, self.schema)
            self._sizes[number] = 0
        return db.table(self.kind)

    def _open_shard(self) -> int:
        number = max(self._sizes.keys() | self._newer, default=0)
        full = number in self._newer or self._sizes.get(number, 0) >= SHARD_SIZE
        return number + 1 if full else number

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def put(self, doc: dict[str, Any]) -> None:
        """Insert or replace one document (one shard file is rewritten)."""
        where = self._where.get(doc["id"])
        if where is None:
            number = self._open_shard()
            doc_id = self._table(number).insert(doc)
            self._sizes[number] += 1
            self._where[doc["id"]] = (number, doc_id)
        else:
            number, doc_id = where
            self._table(number).upsert(Document(doc, doc_id=doc_id))

    def put_many(self, docs: list[dict[str, Any]]) -> None:
        """Insert or replace in bulk: one write per shard touched."""
        fresh = [d for d in docs if d["id"] not in self._where]
        stored: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
        for doc in docs:
            if (where := self._where.get(doc["id"])) is not None:
                stored[where[0]][str(where[1])] = doc
        for number, replaced in stored.items():
            table = self._table(number)
            data = table.storage.read() or {}
            table.storage.write({**data, self.kind: {**data.get(self.kind, {}), **replaced}})
            table.clear_cache()
        while fresh:
            number = self._open_shard()
            self._table(number)
            room = SHARD_SIZE - self._sizes[number]
            batch, fresh = fresh[:room], fresh[room:]
            doc_ids = self._table(number).insert_multiple(batch)
            self._sizes[number] += len(batch)
            for doc, doc_id in zip(batch, doc_ids, strict=True):
                self._where[doc["id"]] = (number, doc_id)

    def delete(self, keys: Iterable[str]) -> None:
        """Delete documents by key: one write per shard they were in."""
        by_shard: dict[int, list[int]] = defaultdict(list)
        for key in keys:
            where = self._where.pop(key, None)
            if where is not None:
                by_shard[where[0]].append(where[1])
        for number, doc_ids in by_shard.items():
            self._table(number).remove(doc_ids=doc_ids)

    def close(self) -> None:
        for db in self._shards.values():
            db.close()
        self._shards.clear()
