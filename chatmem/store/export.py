"""A session as a file: Markdown to read, JSON to keep or import back."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import asdict, dataclass, fields, replace

from chatmem.protocol import ChatMessage, SessionInfo
from chatmem.store.sessions import SessionStore
from chatmem.tokens import clean_text

FORMAT = "chatmem-session"
VERSION = 1
_MESSAGE_FIELDS = {f.name for f in fields(ChatMessage)}
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


class ImportProblem(ValueError):
    """The file is not a session export this chatmem can read; the message says why."""


@dataclass(frozen=True)
class SessionFile:
    info: SessionInfo
    messages: list[ChatMessage]
    summary: str = ""
    summarized: int = 0


def load(store: SessionStore, session_id: str) -> SessionFile:
    info = store.get(session_id)
    if info is None:
        raise KeyError(session_id)
    messages, _ = store.recent(session_id, 10**9)
    summary, summarized = store.summary(session_id)
    return SessionFile(info, messages, summary, summarized)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def to_markdown(session: SessionFile) -> str:
    info = session.info
    lines = [
        f"# {info.title or 'Untitled conversation'}",
        "",
        f"*{_when(info.created)} · {info.message_count:,} messages · {info.tokens:,} tokens · "
        f"chatmem session {info.id}*",
        "",
    ]
    if session.summary:
        lines.append(f"> **Summary of the first {session.summarized:,} messages**")
        lines += [f"> {line}" if line else ">" for line in session.summary.splitlines()]
        lines.append("")
    for message in session.messages:
        who = "You" if message.role == "user" else "Assistant"
        note = {"cut": " (cut off)", "failed": " (not answered)"}.get(message.status, "")
        lines += [f"## {who} — {_when(message.created)}{note}", "", message.content, ""]
    return "\n".join(lines)


def to_json(session: SessionFile) -> str:
    data = {
        "format": FORMAT,
        "version": VERSION,
        "session": asdict(session.info),
        "summary": session.summary,
        "summarized": session.summarized,
        "messages": [asdict(m) for m in session.messages],
    }
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def from_json(text: str) -> SessionFile:
    """Parse an export (raises ``ImportProblem``); unknown fields are ignored."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImportProblem(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ImportProblem('not a chatmem session export (no "format": "chatmem-session")')
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise ImportProblem(f"made by a newer chatmem (version {data.get('version')})")
    try:
        meta = data["session"]
        messages = [
            ChatMessage(
                **{
                    **{k: v for k, v in m.items() if k in _MESSAGE_FIELDS},
                    "id": str(m["id"]),
                    "role": "assistant" if m["role"] == "assistant" else "user",
                    "content": clean_text(str(m["content"])),
                    "created": float(m["created"]),
                }
            )
            for m in data["messages"]
        ]
        info = SessionInfo(
            str(meta["id"]),
            clean_text(str(meta.get("title", ""))),
            float(meta["created"]),
            len(messages),
        )
        summary = clean_text(str(data.get("summary", "")))
        summarized = min(int(data.get("summarized", 0)), len(messages))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ImportProblem(f"a session or message is missing a field ({exc})") from None
    if len({m.id for m in messages}) != len(messages):
        raise ImportProblem("two messages share an id")
    return SessionFile(info, messages, summary, summarized)


def import_into(store: SessionStore, session: SessionFile) -> SessionInfo:
    """Store the session; under a new id if its id is taken (importing twice keeps both)."""
    session_id, messages = session.info.id, session.messages
    if not _SAFE_ID.fullmatch(session_id) or store.get(session_id) is not None:
        # A copy: new ids for it (one names a file) and its messages (recall keys them).
        session_id = f"imported-{secrets.token_hex(6)}"
        messages = [replace(m, id=secrets.token_hex(6)) for m in messages]
    store.create(session.info.created, session.info.title, session_id)
    store.extend(session_id, messages)
    if session.summary:
        store.set_summary(session_id, session.summary, session.summarized)
    store.flush()
    info = store.get(session_id)
    assert info is not None
    return info
