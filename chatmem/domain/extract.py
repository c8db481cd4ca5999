"""Candidate memories from a model's answer, and how each meets what is already known."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from chatmem.domain.dates import resolve_dates
from chatmem.domain.index import terms, words
from chatmem.domain.memories import REQUIRED, InvalidMemory, Memory, make_memory

ANSWER_SCHEMA = {  # the JSON the extraction prompt asks for
    "type": "object",
    "properties": {
        "memories": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["add", "update", "supersede", "none"]},
                    "type": {"type": "string", "enum": ["person", "event", "fact"]},
                    "target": {"type": "string"},
                    "fields": {"type": "object"},
                },
                "required": ["action", "type", "fields"],
            },
        }
    },
    "required": ["memories"],
}
_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


class Unparsable(ValueError):
    """The model's answer held no usable JSON."""


@dataclass(frozen=True)
class Candidate:
    action: str
    kind: str
    fields: dict[str, Any]
    target: str = ""


@dataclass(frozen=True)
class Change:
    """One change to the store: ``before`` is None for an addition."""

    verb: str  # "Remembered" | "Updated" | "Superseded" | "Forgot"
    after: Memory | None
    before: Memory | None = None
    also: Memory | None = None  # the memory a supersession retired, as it now is


def parse_candidates(text: str) -> list[Candidate]:
    """Candidates from JSON, a fenced JSON block, the first {...} in plain text, or what
    json-repair recovers (trailing commas, single quotes, a cut-off end)."""
    data = None
    for source in (text, *(m.group(1) for m in _BLOCK.finditer(text)), _outer(text)):
        if not source:
            continue
        try:
            data = json.loads(source)
            break
        except ValueError:
            continue
    if not isinstance(data, dict):
        data = _repaired(text)
    if not isinstance(data, dict) or not isinstance(data.get("memories"), list):
        raise Unparsable('no {"memories": [...]} in the answer')
    out = []
    for item in data["memories"]:
        if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
            continue
        out.append(
            Candidate(
                action=str(item.get("action", "add")).lower(),
                kind=str(item.get("type", "")).lower(),
                fields=item["fields"],
                target=str(item.get("target") or ""),
            )
        )
    return out


def _repaired(text: str) -> Any:
    import json_repair

    start = text.find("{")
    try:
        return json_repair.loads(text[start:]) if start >= 0 else None
    except Exception:  # it promises an object or "", but it parses anything
        return None


_QUOTED = re.compile(r"\"([^\"\n]{0,60})\"")
_EMPTY = {"", "string", "text", "note", "name", "none", "null", "n/a", "unknown", "todo"}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def plausible(candidates: list[Candidate], prompt: str, said: str, reply: str) -> list[Candidate]:
    """The candidates a small model did not make up: no placeholders (``...``, the prompt's own
    example values), no empty notes, nothing taken from the assistant's reply rather than the
    user's message, no person the user did not name."""
    examples = {_norm(q) for q in _QUOTED.findall(prompt)}
    user_terms, reply_terms = set(terms(said)), set(terms(reply))
    kept = []
    for c in candidates:
        main = str(c.fields.get(REQUIRED.get(c.kind, "note")) or "")
        if c.action == "none" or _norm(main) in _EMPTY or _norm(main) in examples:
            continue
        mine = set(terms(main))
        if c.kind == "person" and not c.target and not mine & user_terms:
            continue  # a name the user never said
        borrowed = len((mine & reply_terms) - user_terms)
        if borrowed and borrowed >= len(mine & user_terms):
            continue  # the assistant's words, not the user's
        kept.append(c)
    return kept


def _outer(text: str) -> str:
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else ""


def similarity(a: str, b: str) -> float:
    """Jaccard overlap of the two texts' words."""
    x, y = set(words(a)), set(words(b))
    return len(x & y) / len(x | y) if x and y else 0.0


def reconcile(
    candidates: list[Candidate],
    memories: dict[str, Memory],
    now: float,
    said_at: float,
    session_id: str,
    message_ids: tuple[str, ...],
) -> list[Change]:
    """Decide ADD / UPDATE / SUPERSEDE / NONE for each candidate; nothing is written here."""
    changes: list[Change] = []
    for c in candidates:
        if c.action == "none" or c.kind == "conversation":
            continue
        fields = dict(c.fields)
        if c.kind == "event":
            raw = fields.get("dates") or []
            fields["dates"] = resolve_dates(raw if isinstance(raw, list) else [raw], said_at)
        try:
            fresh = make_memory(c.kind, fields, now, session_id, message_ids)
        except InvalidMemory:
            continue
        target = memories.get(c.target)
        if target is not None and (target.kind != fresh.kind or not target.active):
            target = None
        if target is None:  # no usable target: is it already known all the same?
            if any(
                m.active and m.kind == fresh.kind and similarity(m.text(), fresh.text()) >= 0.8
                for m in memories.values()
            ):
                continue
            changes.append(Change("Remembered", fresh))
        elif c.action == "supersede":
            changes.append(
                Change("Superseded", fresh, also=replace(target, superseded_by=fresh.id))
            )
        elif similarity(target.text(), fresh.text()) < 1.0:
            given = {k: v for k, v in fresh.fields.items() if k in c.fields}
            changes.append(Change("Updated", target.revised(given, now, "extraction"), target))
    return changes
