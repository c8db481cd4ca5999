"""The disk schema of sessions: the documents of ``sessions.json`` and of each session file.

Declared here, field by field, so that a field added to a record for the wire or the UI does
not change the files; a change here is a schema step (``SCHEMA``)."""

from __future__ import annotations

from typing import Any

from chatmem.domain.records import session as records
from chatmem.domain.sessions import ChatMessage, SessionInfo

SCHEMA = 1
# The keys of each document, in the order they are written.
MESSAGE_FIELDS = (
    "id",
    "role",
    "content",
    "created",
    "tokens",
    "status",
    "prompt_tokens",
    "completion_tokens",
)
SESSION_FIELDS = ("id", "title", "created", "message_count", "updated", "tokens")


def message_doc(message: ChatMessage) -> dict[str, Any]:
    """A message as a session file stores it."""
    return {key: getattr(message, key) for key in MESSAGE_FIELDS}


def message_from_doc(doc: Any, where: str) -> ChatMessage:
    """A stored message document, checked (``RecordProblem`` if damaged)."""
    return records.message(doc, where, stored=True)


def session_doc(info: SessionInfo) -> dict[str, Any]:
    """A session's entry in ``sessions.json``."""
    return {key: getattr(info, key) for key in SESSION_FIELDS}


def session_from_doc(doc: Any, where: str) -> SessionInfo:
    """An entry of ``sessions.json``, checked (``RecordProblem`` if damaged)."""
    return records.info(doc, where)
