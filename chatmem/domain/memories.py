"""The typed memory records (Person, Event, Fact, Conversation), their kinds' fields declared
once, and what the memory browser and the token sidebar show of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from chatmem.domain.sessions import ChatMessage


@dataclass(frozen=True)
class KindField:
    """One field of a memory kind: its empty value, and how the memory form shows it."""

    key: str
    default: Any
    label: str = ""  # "" keeps it off the form: the worker sets it
    hint: str = ""


# Each kind's fields, its main (required) one first: the one declaration that the records,
# their checks and the memory form read.
KIND_FIELDS: dict[str, tuple[KindField, ...]] = {
    "person": (
        KindField("name", "", "Name"),
        KindField(
            "relation",
            "",
            "Relation to the user",
            "sister, friend, colleague… (self: the assistant)",
        ),
        KindField("alive", True, "Alive", "yes or no"),
        # [{"name": ..., "relation": ...}]
        KindField("relationships", [], "Relationships", "Name: relation, Name: relation"),
        KindField("objectives", "", "Current objectives"),
        KindField("details", "", "Details"),
        KindField("personality", "", "Personality"),
    ),
    "event": (
        KindField("note", "", "What happened"),
        # absolute ISO dates
        KindField("dates", [], "Dates", "2024-11-02, next friday, 3 March… (made absolute)"),
    ),
    "fact": (
        KindField("note", "", "Fact"),
        KindField("source", "", "Source", "who said it, or a link"),
    ),
    "conversation": (KindField("summary", "", "Summary"), KindField("session_id", "")),
}
KINDS = tuple(KIND_FIELDS)
# The fields each kind carries; anything else a model or a file offers is dropped.
FIELDS: dict[str, dict[str, Any]] = {
    kind: {f.key: f.default for f in fields} for kind, fields in KIND_FIELDS.items()
}
REQUIRED = {kind: fields[0].key for kind, fields in KIND_FIELDS.items()}
# The memory form: each kind's fields as (field, label, hint), the main one first.
FORM: dict[str, tuple[tuple[str, str, str], ...]] = {
    kind: tuple(
        (f.key, f.label, "required" if f.key == REQUIRED[kind] else f.hint)
        for f in fields
        if f.label
    )
    for kind, fields in KIND_FIELDS.items()
}


def new_memory_id() -> str:
    return "m" + uuid.uuid4().hex[:11]


@dataclass(frozen=True)
class Version:
    """An earlier state of a memory, and who replaced it."""

    at: float
    by: str  # "user" | "extraction" | "import"
    fields: dict[str, Any]


@dataclass(frozen=True)
class Memory:
    id: str
    kind: str
    fields: dict[str, Any]
    created: float
    updated: float
    session_id: str = ""  # provenance: where it was learnt
    message_ids: tuple[str, ...] = ()
    pinned: bool = False
    superseded_by: str = ""  # set when a later memory contradicted this one
    history: tuple[Version, ...] = field(default=())

    @property
    def is_self(self) -> bool:
        return self.kind == "person" and self.fields.get("relation") == "self"

    @property
    def active(self) -> bool:
        return not self.superseded_by

    @property
    def title(self) -> str:
        """A short line naming the memory (for notices and lists): one line, whatever it holds."""
        value = " ".join(str(self.fields.get(REQUIRED[self.kind], "")).split())
        return value if len(value) <= 80 else value[:79] + "…"

    def text(self) -> str:
        """The memory as it goes into the prompt and the search index."""
        f = self.fields
        match self.kind:
            case "person":
                parts = [f"{f['name']} ({f['relation'] or 'person'})"]
                if not f.get("alive", True):
                    parts.append("deceased")
                for key in ("personality", "objectives", "details"):
                    if f.get(key):
                        parts.append(f"{key}: {f[key]}")
                rels = [f"{r['name']} ({r['relation']})" for r in f.get("relationships", [])]
                if rels:
                    parts.append("relationships: " + ", ".join(rels))
                return "; ".join(parts)
            case "event":
                dates = ", ".join(f.get("dates") or [])
                return f"{f['note']} [{dates}]" if dates else f["note"]
            case "fact":
                return f"{f['note']} (source: {f['source']})" if f.get("source") else f["note"]
            case _:
                return f["summary"]

    def revised(self, fields: dict[str, Any], now: float, by: str) -> Memory:
        """A new version; the current one goes into the history, never lost."""
        old = Version(self.updated, by, dict(self.fields))
        return replace(
            self,
            fields=clean_fields(self.kind, {**self.fields, **fields}),
            updated=now,
            history=(*self.history, old),
        )


class InvalidMemory(ValueError):
    """A candidate memory of an unknown kind or without its main field."""


def clean_fields(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The kind's fields with defaults filled in and unknown keys dropped."""
    if kind not in FIELDS:
        raise InvalidMemory(f"unknown memory type {kind!r}")
    out: dict[str, Any] = {}
    for key, default in FIELDS[kind].items():
        value = fields.get(key, default)
        if value is None:
            value = default
        if isinstance(default, str):
            value = value if isinstance(value, str) else str(value)
            value = value.strip()
        elif isinstance(default, bool):
            value = bool(value)
        elif isinstance(default, list):
            value = list(value) if isinstance(value, list | tuple) else [value]
        out[key] = value
    if kind == "person":
        out["relationships"] = [
            {"name": str(r.get("name", "")), "relation": str(r.get("relation", ""))}
            for r in out["relationships"]
            if isinstance(r, dict) and r.get("name")
        ]
    if kind == "event":
        out["dates"] = [str(d) for d in out["dates"] if d]
    return out


def make_memory(
    kind: str,
    fields: dict[str, Any],
    now: float,
    session_id: str = "",
    message_ids: tuple[str, ...] = (),
    memory_id: str = "",
    pinned: bool = False,
) -> Memory:
    kind = kind.lower().strip()
    cleaned = clean_fields(kind, fields)
    if not cleaned[REQUIRED[kind]]:
        raise InvalidMemory(f"a {kind} needs a {REQUIRED[kind]}")
    return Memory(
        id=memory_id or new_memory_id(),
        kind=kind,
        fields=cleaned,
        created=now,
        updated=now,
        session_id=session_id,
        message_ids=message_ids,
        pinned=pinned,
    )


@dataclass(frozen=True)
class RecallItem:
    """A memory (or an earlier message) that went into a request, and what it cost."""

    kind: str  # person | event | fact | conversation | message
    id: str
    title: str
    tokens: int


@dataclass(frozen=True)
class MemoryRow:
    """One line of the memory browser's list."""

    id: str
    kind: str  # person | event | fact | conversation
    title: str
    updated: float
    pinned: bool = False
    superseded: bool = False
    is_self: bool = False


@dataclass(frozen=True)
class MemoryVersion:
    at: float
    by: str  # user | extraction | import
    text: str


@dataclass(frozen=True)
class MemoryRecord:
    """Everything about one memory, for the browser's detail pane and its form."""

    row: MemoryRow
    text: str  # as it goes into the prompt
    values: tuple[tuple[str, str], ...]  # (field, value as the form shows it), in FORM order
    created: float
    session_id: str  # provenance: the session and messages it came from
    message_ids: tuple[str, ...]
    superseded_by: str
    history: tuple[MemoryVersion, ...]  # oldest first
    transcript: tuple[ChatMessage, ...] = ()  # a Conversation's session
