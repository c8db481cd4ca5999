"""A session as a file: Markdown to read, JSON to keep or import back."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import replace

from chatmem.domain.ids import is_safe_id
from chatmem.domain.records import RecordProblem, load_json
from chatmem.domain.records import session as records
from chatmem.domain.records.session import SessionFile
from chatmem.domain.sessions import SessionInfo
from chatmem.store.session_schema import message_doc, session_doc
from chatmem.store.sessions import SessionStore

FORMAT = "chatmem-session"
VERSION = 1


class ImportProblem(RecordProblem):
    """The file is not a session export this chatmem can read; the message says why."""


def load(store: SessionStore, session_id: str) -> SessionFile:
    info = store.get(session_id)
    if info is None:
        raise KeyError(session_id)
    messages = store.messages(session_id)
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
        "session": session_doc(session.info),
        "summary": session.summary,
        "summarized": session.summarized,
        "messages": [message_doc(m) for m in session.messages],
    }
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def from_json(text: str) -> SessionFile:
    """Parse an export (raises ``ImportProblem``); unknown fields are ignored."""
    try:
        data = load_json(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ImportProblem('not a chatmem session export (no "format": "chatmem-session")')
        if not isinstance(data.get("version"), int) or data["version"] > VERSION:
            raise ImportProblem(f"made by a newer chatmem (version {data.get('version')})")
        return records.export(data)
    except RecordProblem as exc:
        raise ImportProblem(str(exc)) from None


def import_into(store: SessionStore, session: SessionFile) -> SessionInfo:
    """Store the session in one step; under a new id if its id is taken or unusable
    (importing twice keeps both)."""
    session_id, messages = session.info.id, session.messages
    if not is_safe_id(session_id) or store.get(session_id) is not None:
        # A copy: new ids for it (one names a file) and its messages (recall keys them).
        session_id = f"imported-{secrets.token_hex(6)}"
        messages = [replace(m, id=secrets.token_hex(6)) for m in messages]
    (info,) = store.add(
        [replace(session, info=replace(session.info, id=session_id), messages=messages)]
    )
    return info
