"""Memory records: every field of every kind checked, as stored and as exported."""

from __future__ import annotations

from typing import Any

from chatmem.domain.memories import FIELDS, KINDS, REQUIRED, Memory, Version, clean_fields
from chatmem.domain.records import MAX_TIME, Reader, RecordProblem

MAX_ITEMS = 10_000  # relationships, dates, message ids, versions of one memory


def fields(kind: str, raw: Any, where: str) -> dict[str, Any]:
    """The kind's fields, each of its type (a missing or null one takes its default)."""
    r = Reader(raw, where)
    for key, default in FIELDS[kind].items():
        if isinstance(default, bool):
            r.flag(key, default)
        elif isinstance(default, str):
            r.text(key, default)
        else:
            items = r.items(key, default)
            if len(items) > MAX_ITEMS:
                raise r.problem(key, f"has {len(items):,} entries (at most {MAX_ITEMS:,})")
            for n, item in enumerate(items, 1):
                if key == "relationships":
                    rel = Reader(item, f"{where}: relationship {n}")
                    rel.text("name", "", 1000)
                    rel.text("relation", "", 1000)
                elif not isinstance(item, str) or len(item) > 1000:
                    raise r.problem(key, f"entry {n} is not a short text")
    return clean_fields(kind, raw)


def memory(doc: Any, where: str, trusted: bool = False) -> Memory:
    """One memory document, or ``RecordProblem``. ``trusted``: written by this app, so its
    fields are not checked one by one when they have the kind's keys (a fast start), and
    the ids it holds need only be text (older imports kept any; the store checks an id
    before it names a file)."""
    if trusted and (fast := _as_stored(doc)) is not None:
        return fast
    r = Reader(doc, where)
    memory_id = _key(r, "id", trusted)
    r.where = where = f"{where} ({memory_id!r})"
    kind = r.choice("kind", KINDS)
    raw = r.doc.get("fields")
    if trusted and isinstance(raw, dict) and raw.keys() == FIELDS[kind].keys():
        values = raw
    else:
        values = fields(kind, raw, f"{where}: fields")
    if not values[REQUIRED[kind]]:
        raise r.problem(f"fields.{REQUIRED[kind]}", f"is empty: a {kind} needs a {REQUIRED[kind]}")
    created = r.time("created")
    message_ids = r.items("message_ids", [])
    if len(message_ids) > MAX_ITEMS or not all(isinstance(i, str) for i in message_ids):
        raise r.problem("message_ids", "is not a list of message ids")
    history = r.items("history", [])
    if len(history) > MAX_ITEMS:
        raise r.problem("history", f"has {len(history):,} versions (at most {MAX_ITEMS:,})")
    return Memory(
        id=memory_id,
        kind=kind,
        fields=values,
        created=created,
        updated=r.time("updated", created),
        session_id=_key(r, "session_id", trusted, optional=True),
        message_ids=tuple(message_ids),
        pinned=r.flag("pinned", False),
        superseded_by=_key(r, "superseded_by", trusted, optional=True),
        history=tuple(_version(kind, v, f"{where}: version {n}") for n, v in enumerate(history, 1)),
    )


def _as_stored(doc: Any) -> Memory | None:
    """The memory if ``doc`` is exactly as this app stores one with no history (nearly all
    are; checked without building messages), else None: the full check decides."""
    if type(doc) is not dict or doc.get("history"):
        return None
    memory_id, kind, values = doc.get("id"), doc.get("kind"), doc.get("fields")
    created, updated, ids = doc.get("created"), doc.get("updated"), doc.get("message_ids")
    session_id, superseded_by = doc.get("session_id"), doc.get("superseded_by")
    if not (  # in the condition itself, so that the type checker narrows by it
        type(memory_id) is str
        and 0 < len(memory_id) <= 1000
        and kind in FIELDS
        and type(values) is dict
        and values.keys() == FIELDS[kind].keys()
        and type(created) is float
        and type(updated) is float
        and 0 <= created < MAX_TIME  # False for NaN
        and 0 <= updated < MAX_TIME
        and type(session_id) is str
        and type(superseded_by) is str
        and len(session_id) <= 1000
        and len(superseded_by) <= 1000
        and type(doc.get("pinned")) is bool
        and type(ids) is list
        and len(ids) <= MAX_ITEMS
        and all(type(i) is str for i in ids)
        and values[REQUIRED[kind]]
    ):
        return None
    return Memory(
        memory_id, kind, values, created, updated, session_id, tuple(ids), doc["pinned"],
        superseded_by,
    )  # fmt: skip


def _key(r: Reader, key: str, trusted: bool, optional: bool = False) -> str:
    """An id the memory holds: one that may name a file, or (``trusted``) any text."""
    if not trusted:
        return r.id(key, "") if optional else r.id(key)
    value = r.text(key, "", 1000)
    if not value and not optional:
        raise r.problem(key, "is empty")
    return value


def _version(kind: str, doc: Any, where: str) -> Version:
    r = Reader(doc, where)
    return Version(r.time("at"), r.text("by", "", 100), fields(kind, r.doc.get("fields"), where))


def unique(memories: list[Memory]) -> list[Memory]:
    """``memories``, or ``RecordProblem`` if two share an id."""
    if len({m.id for m in memories}) != len(memories):
        raise RecordProblem("two memories share an id")
    return memories
