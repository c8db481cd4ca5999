"""The memory browser's logic: filters, list rows, whole records, and the form's text values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chatmem.domain.dates import day, resolve_date
from chatmem.domain.memories import (
    FORM,
    KINDS,
    REQUIRED,
    Memory,
    MemoryRecord,
    MemoryRow,
    MemoryVersion,
    clean_fields,
    make_memory,
)
from chatmem.domain.sessions import ChatMessage

GROUPS = ("self", *KINDS, "all")
_YES = {"yes", "y", "true", "1", "alive"}
_NO = {"no", "n", "false", "0", "dead", "deceased"}


class FormProblems(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems))
        self.problems = problems


@dataclass(frozen=True)
class Filter:
    words: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()  # type:person (type:self for the self)
    pinned: bool = False
    superseded: bool = False  # only superseded ones
    recalled: bool = False  # only what went into the last request
    after: str = ""  # ISO date prefixes, compared with the memory's dates
    before: str = ""


def parse_filter(query: str) -> Filter:
    words: list[str] = []
    kinds: set[str] = set()
    flags = {"pinned": False, "superseded": False, "recalled": False}
    after = before = ""
    for token in query.casefold().split():
        key, _, value = token.partition(":")
        if key == "type" and value:
            kinds.update(k for k in (*KINDS, "self") if k.startswith(value))
        elif key == "after" and value:
            after = value
        elif key == "before" and value:
            before = value
        elif token in flags:
            flags[token] = True
        else:
            words.append(token)
    return Filter(tuple(words), frozenset(kinds), after=after, before=before, **flags)


def self_renamed(before: Memory, after: Memory, now: float) -> Memory | None:
    """The event a new name for the assistant leaves, so its old name stays known."""
    old, new = before.fields.get("name"), after.fields.get("name")
    if not after.is_self or old == new:
        return None
    note = f"My name changed from {old} to {new}."
    return make_memory("event", {"note": note, "dates": [day(now)]}, now)


def group_of(memory: Memory) -> str:
    return "self" if memory.is_self else memory.kind


class Finder:
    """Filters memories; keeps each one's lower-cased text until the memory changes."""

    def __init__(self) -> None:
        self._text: dict[str, tuple[float, str]] = {}

    def haystack(self, memory: Memory) -> str:
        cached = self._text.get(memory.id)
        if cached is None or cached[0] != memory.updated:
            cached = (memory.updated, f"{memory.kind} {memory.text()}".casefold())
            self._text[memory.id] = cached
        return cached[1]

    def matches(self, memory: Memory, flt: Filter, recalled: set[str]) -> bool:
        if flt.kinds and group_of(memory) not in flt.kinds and memory.kind not in flt.kinds:
            return False
        if (flt.pinned and not memory.pinned) or (flt.superseded and memory.active):
            return False
        if flt.recalled and memory.id not in recalled:
            return False
        if flt.after or flt.before:
            dates = memory.fields.get("dates") or [day(memory.created)]
            if flt.after and not any(d >= flt.after for d in dates):
                return False
            if flt.before and not any(d < flt.before for d in dates):
                return False
        text = self.haystack(memory) if flt.words else ""
        return all(word in text for word in flt.words)

    def search(
        self,
        memories: Iterable[Memory],
        query: str,
        group: str,
        show_superseded: bool,
        recalled: set[str],
        limit: int,
    ) -> tuple[tuple[tuple[str, int], ...], list[MemoryRow], int]:
        """Counts per group, the group's newest ``limit`` rows, and how many matched in all."""
        flt = parse_filter(query)
        counts = dict.fromkeys(GROUPS, 0)
        found: list[Memory] = []
        for memory in memories:
            if not (memory.active or show_superseded or flt.superseded):
                continue
            if not self.matches(memory, flt, recalled):
                continue
            where = group_of(memory)
            counts[where] += 1
            counts["all"] += 1
            if group in ("all", where):
                found.append(memory)
        found.sort(key=lambda m: -m.updated)
        return tuple(counts.items()), [row(m) for m in found[:limit]], len(found)


def row(memory: Memory) -> MemoryRow:
    return MemoryRow(
        memory.id,
        memory.kind,
        memory.title,
        memory.updated,
        memory.pinned,
        not memory.active,
        memory.is_self,
    )


def record(memory: Memory, transcript: tuple[ChatMessage, ...] = ()) -> MemoryRecord:
    return MemoryRecord(
        row=row(memory),
        text=memory.text(),
        values=form_values(memory.kind, memory.fields),
        created=memory.created,
        session_id=memory.session_id,
        message_ids=memory.message_ids,
        superseded_by=memory.superseded_by,
        history=tuple(
            MemoryVersion(v.at, v.by, _text(memory.kind, v.fields)) for v in memory.history
        ),
        transcript=transcript,
    )


def _text(kind: str, fields: dict[str, Any]) -> str:
    return Memory("", kind, clean_fields(kind, fields), 0, 0).text()


def form_values(kind: str, fields: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The fields as the form shows them: text, one per ``FORM`` entry."""
    values = []
    for key, _, _ in FORM[kind]:
        value = fields.get(key, "")
        if key == "alive":
            value = "yes" if value else "no"
        elif key == "relationships":
            value = ", ".join(f"{r['name']}: {r['relation']}" for r in value)
        elif key == "dates":
            value = ", ".join(value)
        values.append((key, str(value)))
    return tuple(values)


def parse_form(kind: str, values: dict[str, str], said: float) -> dict[str, Any]:
    """Fields from the form's text; ``FormProblems`` lists every field that is wrong."""
    if kind not in FORM:
        raise FormProblems([("type", f"{kind!r} is not a memory type")])
    problems: list[tuple[str, str]] = []
    fields: dict[str, Any] = {}
    for key, label, _ in FORM[kind]:
        text = " ".join(values.get(key, "").split()) if key != "summary" else values.get(key, "")
        text = text.strip()
        if key == REQUIRED[kind] and not text:
            problems.append((key, f"{label} is required."))
        elif key == "alive":
            if text.casefold() not in _YES | _NO | {""}:
                problems.append((key, "Say yes or no."))
            fields[key] = text.casefold() not in _NO
        elif key == "relationships":
            fields[key] = _relationships(text, problems)
        elif key == "dates":
            fields[key] = _dates(text, said, problems)
        else:
            fields[key] = text
    if problems:
        raise FormProblems(problems)
    return fields


def _relationships(text: str, problems: list[tuple[str, str]]) -> list[dict[str, str]]:
    found = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text))):
        name, colon, relation = part.partition(":")
        if not colon or not name.strip():
            problems.append(("relationships", f"Write {part!r} as Name: relation."))
            continue
        found.append({"name": name.strip(), "relation": relation.strip()})
    return found


def _dates(text: str, said: float, problems: list[tuple[str, str]]) -> list[str]:
    dates: list[str] = []
    for part in filter(None, (p.strip() for p in re.split(r"[;,](?!\s*\d{4}\b)", text))):
        iso = resolve_date(part, said)
        if iso is None:
            problems.append(
                ("dates", f"{part!r} is not a date I can pin down: try 2024-11-02 or next friday.")
            )
        elif iso not in dates:
            dates.append(iso)
    return dates
