"""The session service: list, search, rename, delete, export and import conversations, and
the usage stats. It returns values or raises ``chatmem.services.errors`` errors; the app's
worker and the headless commands both use it."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from chatmem.domain.browse import group_of
from chatmem.domain.dates import day
from chatmem.domain.memories import KINDS
from chatmem.domain.records.session import SessionFile
from chatmem.domain.search import search
from chatmem.domain.sessions import SearchHit, SessionInfo, SessionRow
from chatmem.paths import write_private
from chatmem.services.errors import NotFound, NotSaved, Refused, Unreadable
from chatmem.services.files import read_export
from chatmem.services.memories import MemoryService
from chatmem.store import export
from chatmem.store.profile import Profile

log = logging.getLogger(__name__)

TITLE_LENGTH = 60
_QUOTES = "\"'`*#_ \u2018\u2019\u201c\u201d\u00ab\u00bb"


def fallback_title(text: str) -> str:
    """The first line of the first message, clipped: the title until the model names it."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def clean_title(answer: str) -> str:
    """The model's title on one line, without quotes, markup or a final full stop."""
    line = fallback_title(answer).removeprefix("Title:").strip()
    return line.strip(_QUOTES).rstrip(".").strip(_QUOTES)


GONE = "That conversation is no longer stored."


def read_session(name: str) -> SessionFile:
    """A session export read and checked (``-``: stdin); ``Unreadable`` says why not."""
    text = read_export(name)
    try:
        return export.from_json(text)
    except export.ImportProblem as exc:
        raise Unreadable(f"Could not import {name}: {exc}; nothing was imported.") from None


@dataclass(frozen=True)
class Listing:
    """Every session (the most recently used first) and the profiles beside this one."""

    rows: tuple[SessionRow, ...]
    profile: str
    profiles: tuple[str, ...]


@dataclass(frozen=True)
class Totals:
    """For the stats screen: tokens per day (oldest first), live memories by group."""

    days: tuple[tuple[str, int], ...]
    memories: tuple[tuple[str, int], ...]
    sessions: int
    messages: int


@dataclass(frozen=True)
class Deleted:
    info: SessionInfo
    forgot: int  # memories learnt in it, deleted with it


class SessionService:
    def __init__(self, profile: Profile, memory: MemoryService) -> None:
        self.profile = profile
        self.store = profile.sessions
        self.memory = memory

    def get(self, session_id: str) -> SessionInfo:
        info = self.store.get(session_id)
        if info is None:
            raise NotFound(GONE)
        return info

    def to_show(
        self, now: float, session_id: str = "", new: bool = False, readonly: bool = False
    ) -> SessionInfo:
        """The session to show: the one asked for, else the latest, else a new one (``new``:
        a new one); a read-only profile's new session is shown, never stored."""
        session = None if new else self.store.get(session_id) or self.store.latest()
        if session is not None:
            return session
        if readonly:
            return SessionInfo(uuid.uuid4().hex[:12], "", now, 0, now)
        return self.store.create(now)

    def list(self) -> Listing:
        learnt = Counter(m.session_id for m in self.memory.store if m.session_id)
        rows = tuple(SessionRow(s, learnt[s.id]) for s in self.store.list())
        profiles = Profile.names(self.profile.root.parent.parent)
        return Listing(rows, self.profile.root.name, tuple(profiles))

    def stats(self, days: int, now: float) -> Totals:
        first = dt.date.fromtimestamp(now) - dt.timedelta(days=days - 1)
        used = {(first + dt.timedelta(days=i)).isoformat(): 0 for i in range(days)}
        since = dt.datetime.combine(first, dt.time()).timestamp()
        sessions = self.store.list()
        for session in sessions:  # the most recently used first
            if session.updated < since:
                break
            for m in self.store.messages(session.id):
                if m.role == "assistant" and (when := day(m.created)) in used:
                    used[when] += m.prompt_tokens + m.completion_tokens
        groups = Counter(group_of(m) for m in self.memory.store if m.active)
        memories = tuple((g, groups[g]) for g in ("self", *KINDS))
        messages = sum(s.message_count for s in sessions)
        return Totals(tuple(used.items()), memories, len(sessions), messages)

    def search(self, query: str, limit: int) -> tuple[tuple[SearchHit, ...], int]:
        """The newest ``limit`` messages matching ``query``, and how many match."""
        found, total = search(self.memory.recall, query, limit)
        hits = []
        for item in found:
            turn = item.turn
            info = self.store.get(turn.session_id)
            before = self.memory.recall.previous_turn(turn)
            hits.append(
                SearchHit(
                    turn.session_id,
                    info.title if info is not None else "",
                    turn.id,
                    turn.role,
                    turn.created,
                    item.snippet,
                    item.marks,
                    fallback_title(before.content) if before is not None else "",
                )
            )
        return tuple(hits), total

    def rename(self, session_id: str, title: str) -> SessionInfo:
        """The session under its new title (spaces collapsed)."""
        self.get(session_id)
        self.store.rename(session_id, " ".join(title.split()))
        return self.get(session_id)

    def delete(self, session_id: str, with_memories: bool) -> Deleted:
        """Delete a session, and with it (if asked) the memories learnt in it."""
        info = self.get(session_id)
        self.store.delete(session_id)
        self.memory.remove_session(session_id)
        forgot = self.memory.forget_session(session_id) if with_memories else 0
        return Deleted(info, forgot)

    def render(self, session_id: str, as_json: bool) -> str:
        """The session as an export: JSON (``import`` reads it back) or Markdown."""
        try:
            session = export.load(self.store, session_id)
        except KeyError:
            raise NotFound(GONE) from None
        return export.to_json(session) if as_json else export.to_markdown(session)

    def export(self, session_id: str, path: str) -> Path:
        """Write the session to a new file (JSON if it is named .json, else Markdown)."""
        target = Path(path).expanduser().resolve()
        body = self.render(session_id, as_json=target.suffix.lower() == ".json")
        if target.exists():
            raise Refused(f"{target} exists already: choose another name (nothing was written).")
        try:
            write_private(target, body, private_parent=False)
        except OSError as exc:
            raise NotSaved(str(target), exc.strerror or str(exc)) from None
        return target

    def import_file(self, name: str) -> SessionInfo:
        """Import a session export (``-``: stdin) as a new session."""
        return self.import_session(read_session(name))

    def import_session(self, session: SessionFile) -> SessionInfo:
        """Store a parsed export as a new session; its messages are indexed for search and
        recall."""
        info = export.import_into(self.store, session)
        for message in self.store.messages(info.id):
            self.memory.add_turn(info.id, message)
        return info
