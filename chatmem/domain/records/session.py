"""Session records: a message, a session's index entry, a session export."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from chatmem.domain.records import MAX_TEXT, Reader, RecordProblem
from chatmem.domain.sessions import ChatMessage, SessionInfo
from chatmem.domain.tokens import clean_text

ROLES = ("user", "assistant")
STATUSES = ("ok", "cut", "failed")
MAX_MESSAGE_ID = 1000


@dataclass(frozen=True)
class SessionFile:
    """A whole session: what an export holds and an import stores."""

    info: SessionInfo
    messages: list[ChatMessage]
    summary: str = ""
    summarized: int = 0


def message(doc: Any, where: str, stored: bool = False) -> ChatMessage:
    """One message document (unknown fields ignored), or ``RecordProblem``. ``stored``: one
    the app wrote, whose text may be longer than an import's (the model took it)."""
    r = Reader(doc, where)
    message_id = r.text("id", limit=MAX_MESSAGE_ID)
    if not message_id:
        raise r.problem("id", "is empty")
    r.where = f"{where} ({message_id!r})"
    return ChatMessage(
        message_id,
        r.choice("role", ROLES),
        clean_text(r.text("content", limit=sys.maxsize if stored else MAX_TEXT)),
        r.time("created"),
        r.count("tokens"),
        r.choice("status", STATUSES, "ok"),
        r.count("prompt_tokens"),
        r.count("completion_tokens"),
    )


def info(doc: Any, where: str) -> SessionInfo:
    """A session's entry in the index, or ``RecordProblem``."""
    r = Reader(doc, where)
    session_id = r.id("id")
    r.where = f"{where} ({session_id!r})"
    created = r.time("created")
    return SessionInfo(
        session_id,
        clean_text(r.text("title", "")),
        created,
        r.count("message_count"),
        r.time("updated", created),
        r.count("tokens"),
    )


def export(data: Any) -> SessionFile:
    """The body of a session export (its format and version checked by the caller)."""
    r = Reader(data, "the file")
    meta = Reader(r.doc.get("session"), "the session")
    raw = r.items("messages")
    messages = [message(m, f"message {n}") for n, m in enumerate(raw, 1)]
    if len({m.id for m in messages}) != len(messages):
        raise RecordProblem("two messages share an id")
    session_id = meta.text("id", limit=MAX_MESSAGE_ID)  # a copy gets a new one if unusable
    summarized = r.count("summarized")
    if summarized > len(messages):
        raise r.problem("summarized", f"is {summarized}, more than the {len(messages)} messages")
    return SessionFile(
        SessionInfo(
            session_id,
            clean_text(meta.text("title", "")),
            meta.time("created"),
            len(messages),
        ),
        messages,
        clean_text(r.text("summary", "")),
        summarized,
    )
