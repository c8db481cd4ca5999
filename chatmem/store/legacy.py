"""Import the first prototype's files: ``memories.json`` and ``chat.json``.

What is understood is imported, the original ids kept as provenance; everything skipped
is reported with the reason. Importing twice adds nothing (ids are derived from the
originals).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from chatmem.domain.ids import safe_id
from chatmem.domain.memories import Memory
from chatmem.domain.records import MAX_FILE, RecordProblem, load_json
from chatmem.domain.records import memory as memory_record
from chatmem.domain.records import session as session_record
from chatmem.domain.records.session import SessionFile
from chatmem.domain.sessions import ChatMessage, SessionInfo

CHAT_TIME = "%b %d %Y %H:%M:%S"  # "Nov 02 2024 19:04:11"


@dataclass
class Report:
    added: Counter = field(default_factory=Counter)
    already: int = 0
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        done = ", ".join(f"{n} {kind}" for kind, n in sorted(self.added.items())) or "nothing"
        out = [f"Imported {done}."]
        if self.already:
            out.append(f"{self.already} already imported before: left as they are.")
        out += [f"Skipped {why}" for why in self.skipped]
        return out


@dataclass
class Session:
    """A past session to create: its id, start and messages."""

    id: str
    created: float
    messages: list[ChatMessage]


def _person(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": item.get("name"),
        "relation": "self" if item.get("isSelf") else item.get("relation"),
        "alive": item.get("alive", True),
        "relationships": item.get("relationships") or [],
        "objectives": item.get("currentObjectives"),
        "details": item.get("miscDetails"),
        "personality": item.get("personality"),
    }


def read_memories(path: Path, data: Any, report: Report) -> tuple[list[Memory], list[Session]]:
    """Memories (and the sessions holding Conversation transcripts) from ``memories.json``."""
    items = data.get("memories") if isinstance(data, dict) else None
    if not isinstance(items, list):
        report.skipped.append(f'{path}: not a prototype memories file ({{"memories": [...]}}).')
        return [], []
    memories: list[Memory] = []
    sessions: list[Session] = []
    for n, item in enumerate(items, 1):
        where = f"{path.name} item {n}"
        if not isinstance(item, dict):
            report.skipped.append(f"{where}: not an object.")
            continue
        kind = str(item.get("mem_type", "")).lower()
        original = str(item.get("ID", "")).strip()
        if not original:
            report.skipped.append(f"{where}: no ID.")
            continue
        when = item.get("entryDate")
        if isinstance(when, str):
            with contextlib.suppress(ValueError):
                when = float(when)
        match kind:
            case "person":
                fields = _person(item)
            case "event":
                fields = {"note": item.get("note"), "dates": item.get("dates") or []}
            case "fact":
                fields = {"note": item.get("note"), "source": item.get("source")}
            case "conversation":
                fields = {"summary": item.get("summary"), "session_id": ""}
            case _:
                report.skipped.append(
                    f"{where} ({original}): unknown type {item.get('mem_type')!r}."
                )
                continue
        doc = {"id": safe_id("legacy-", original), "kind": kind, "fields": fields, "created": when}
        try:
            memory = memory_record.memory(doc, where)
            session = None
            if kind == "conversation":
                session = _transcript_session(original, memory.created, item.get("transcript"))
        except RecordProblem as exc:
            report.skipped.append(f"{exc}.")
            continue
        if session is not None:
            sessions.append(session)
            memory = replace(memory, fields={**memory.fields, "session_id": session.id})
        memories.append(memory)
    return memories, sessions


def _transcript_session(original: str, when: float, transcript: Any) -> Session | None:
    if not transcript:
        return None
    if isinstance(transcript, list):
        lines = [
            ("assistant" if t.get("role") == "assistant" else "user", str(t.get("content", "")))
            for t in transcript
            if isinstance(t, dict)
        ]
    else:
        lines = []
        for raw in str(transcript).splitlines():
            role, sep, text = raw.partition(":")
            if sep and role.strip().lower() in ("user", "assistant", "ai", "you", "me"):
                role = "assistant" if role.strip().lower() in ("assistant", "ai", "me") else "user"
                lines.append((role, text.strip()))
            elif raw.strip():
                lines.append(("user", raw.strip()))
    session_id = safe_id("legacy-conversation-", original)
    messages = [
        session_record.message(
            asdict(ChatMessage(f"{session_id}-{i}", r, text, when + i)), f"transcript line {i + 1}"
        )
        for i, (r, text) in enumerate(lines)
        if text
    ]
    return Session(session_id, when, messages) if messages else None


def read_chat(path: Path, raw: bytes, items: list, report: Report) -> list[Session]:
    """``chat.json``: one past session, with the messages' own timestamps."""
    digest = hashlib.sha1(raw).hexdigest()[:12]
    messages = []
    for n, item in enumerate(items, 1):
        try:
            when = dt.datetime.strptime(item["timestamp"], CHAT_TIME).timestamp()
        except (KeyError, TypeError, ValueError):
            report.skipped.append(f"{path.name} message {n}: needs timestamp, role and content.")
            continue
        doc = {**item, "id": f"legacy-{digest}-{n}", "created": when}
        try:
            messages.append(session_record.message(doc, f"{path.name} message {n}"))
        except RecordProblem as exc:
            report.skipped.append(f"{exc}.")
    if not messages:
        return []
    return [Session(f"legacy-chat-{digest}", messages[0].created, messages)]


def import_paths(paths: list[Path], profile, report: Report | None = None) -> Report:
    """Import every file into ``profile`` (a ``chatmem.store.profile.Profile``): everything is
    read and checked first, then each session file and each memory shard is written once
    (sessions before the memories that point at them); a re-run completes a broken one."""
    report = report or Report()
    memories: list[Memory] = []
    sessions: list[Session] = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_FILE:
                report.skipped.append(f"{path}: larger than {MAX_FILE // 2**20} MB.")
                continue
            raw = path.read_bytes()
            data = load_json(raw)
        except OSError as exc:
            report.skipped.append(f"{path}: not readable ({exc.strerror}).")
            continue
        except RecordProblem as exc:
            report.skipped.append(f"{path}: {exc}.")
            continue
        if isinstance(data, list):  # chat.json is a list of messages; memories.json an object
            sessions += read_chat(path, raw, data, report)
        else:
            found, held = read_memories(path, data, report)
            memories += found
            sessions += held
    new = [s for s in sessions if profile.sessions.get(s.id) is None]
    report.already += len(sessions) - len(new)
    profile.sessions.add(
        [SessionFile(SessionInfo(s.id, "Imported", s.created, 0), s.messages) for s in new]
    )
    report.added.update(["session"] * len(new))
    fresh = [m for m in memories if profile.memories.get(m.id) is None]
    report.already += len(memories) - len(fresh)
    profile.memories.put_many(fresh)
    report.added.update(m.kind for m in fresh)
    return report
