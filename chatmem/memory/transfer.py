"""Memories as a file: every one of them, superseded ones and history included, to keep or
move to another profile; and reading such a file back into a store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from chatmem.memory.models import KINDS, REQUIRED, Memory, Version, clean_fields
from chatmem.memory.store import MemoryStore

FORMAT = "chatmem-memories"
VERSION = 1
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class TransferProblem(ValueError):
    """Not a memories file this chatmem can read; the message says why."""


def to_json(memories: Iterable[Memory]) -> str:
    data = {"format": FORMAT, "version": VERSION, "memories": [m.to_doc() for m in memories]}
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def from_json(text: str) -> list[Memory]:
    """The memories of an export, or of a bare list of memory documents (``memories list
    --json``); raises ``TransferProblem`` at the first thing wrong, so nothing half-read."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TransferProblem(f"not JSON ({exc})") from None
    if isinstance(data, dict):
        if data.get("format") != FORMAT:
            raise TransferProblem(f'not a chatmem memories export (no "format": "{FORMAT}")')
        if not isinstance(data.get("version"), int) or data["version"] > VERSION:
            raise TransferProblem(f"made by a newer chatmem (version {data.get('version')})")
        data = data.get("memories")
    if not isinstance(data, list):
        raise TransferProblem("it holds no list of memories")
    memories = [_memory(n, doc) for n, doc in enumerate(data, 1)]
    ids = [m.id for m in memories]
    if len(set(ids)) != len(ids):
        raise TransferProblem("two memories share an id")
    return memories


def _memory(n: int, doc: Any) -> Memory:
    if not isinstance(doc, dict):
        raise TransferProblem(f"memory {n} is not a JSON object")
    where = f"memory {n} ({doc.get('id')!r})"
    if not isinstance(doc.get("id"), str) or not _ID.fullmatch(doc["id"]):
        raise TransferProblem(f"{where} has no usable id")
    if doc.get("kind") not in KINDS:
        raise TransferProblem(f"{where} is of no known type ({doc.get('kind')!r})")
    try:
        memory = Memory.from_doc(doc)
        memory = replace(
            memory,
            session_id=str(memory.session_id),
            message_ids=tuple(str(i) for i in memory.message_ids),
            superseded_by=str(memory.superseded_by),
            history=tuple(
                Version(float(v.at), str(v.by), clean_fields(memory.kind, v.fields))
                for v in memory.history
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TransferProblem(f"{where} is damaged ({exc})") from None
    if not memory.fields[REQUIRED[memory.kind]]:
        raise TransferProblem(f"{where}: a {memory.kind} needs a {REQUIRED[memory.kind]}")
    return memory


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
