"""Memories as a file: every one of them, superseded ones and history included, to keep or
move to another profile; and reading such a file back into a store."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from chatmem.domain.memories import Memory
from chatmem.domain.records import RecordProblem, load_json
from chatmem.domain.records import memory as records
from chatmem.store.memories import MemoryStore, memory_doc

FORMAT = "chatmem-memories"
VERSION = 1


class TransferProblem(RecordProblem):
    """Not a memories file this chatmem can read; the message says why."""


def to_json(memories: Iterable[Memory]) -> str:
    data = {"format": FORMAT, "version": VERSION, "memories": [memory_doc(m) for m in memories]}
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def from_json(text: str) -> list[Memory]:
    """The memories of an export, or of a bare list of memory documents (``memories list
    --json``); raises ``TransferProblem`` at the first thing wrong, so nothing half-read."""
    try:
        data = load_json(text)
        if isinstance(data, dict):
            if data.get("format") != FORMAT:
                raise TransferProblem(f'not a chatmem memories export (no "format": "{FORMAT}")')
            if not isinstance(data.get("version"), int) or data["version"] > VERSION:
                raise TransferProblem(f"made by a newer chatmem (version {data.get('version')})")
            data = data.get("memories")
        if not isinstance(data, list):
            raise TransferProblem("it holds no list of memories")
        return records.unique([records.memory(doc, f"memory {n}") for n, doc in enumerate(data, 1)])
    except RecordProblem as exc:
        raise TransferProblem(str(exc)) from None


@dataclass(frozen=True)
class Merged:
    added: int = 0
    replaced: int = 0
    present: int = 0  # already stored under that id, left as they were
    selves: int = 0  # the file's assistant records, left out: the profile has its own

    def line(self) -> str:
        parts = [f"Imported {self.added + self.replaced:,} memories"]
        if self.replaced:
            parts.append(f"{self.replaced:,} of them replacing stored ones")
        if self.present:
            parts.append(f"skipped {self.present:,} already stored (--replace overwrites them)")
        if self.selves:
            parts.append(f"kept this profile's own assistant record over the file's {self.selves}")
        return "; ".join(parts) + "."


def merge(store: MemoryStore, memories: list[Memory], overwrite: bool = False) -> Merged:
    """Put ``memories`` into ``store``: ids it has are skipped unless ``overwrite``; there
    stays one assistant (self) record. One write per shard touched."""
    own_self = next((m.id for m in store if m.is_self), "")
    taken: list[Memory] = []
    added = replaced = present = selves = 0
    for memory in memories:
        if memory.is_self and own_self and memory.id != own_self:
            selves += 1
            continue
        if store.get(memory.id) is None:
            added += 1
        elif overwrite:
            replaced += 1
        else:
            present += 1
            continue
        own_self = own_self or (memory.id if memory.is_self else "")
        taken.append(memory)
    store.put_many(taken)
    return Merged(added, replaced, present, selves)
