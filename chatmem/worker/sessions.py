"""The sessions screen's requests: list, search, rename, delete, export and import."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from chatmem import protocol as p
from chatmem.domain.browse import group_of
from chatmem.domain.dates import day
from chatmem.domain.memories import KINDS
from chatmem.domain.records import MAX_FILE
from chatmem.domain.search import search
from chatmem.paths import write_private
from chatmem.store import export
from chatmem.store.profile import Profile
from chatmem.worker.memory import MemoryService

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


class SessionService:
    def __init__(
        self, profile: Profile, memory: MemoryService, emit: Callable[[p.Event], None]
    ) -> None:
        self.profile = profile
        self.store = profile.sessions
        self.memory = memory
        self.emit = emit

    def list(self, current: str, request_id: str) -> None:
        learnt = Counter(m.session_id for m in self.memory.store if m.session_id)
        rows = tuple(p.SessionRow(s, learnt[s.id]) for s in self.store.list())
        profiles = Profile.names(self.profile.root.parent.parent)
        name = self.profile.root.name
        self.emit(p.SessionList(rows, current, name, tuple(profiles), request_id))

    def stats(self, days: int, now: float, request_id: str) -> None:
        first = dt.date.fromtimestamp(now) - dt.timedelta(days=days - 1)
        used = {(first + dt.timedelta(days=i)).isoformat(): 0 for i in range(days)}
        since = dt.datetime.combine(first, dt.time()).timestamp()
        sessions = self.store.list()
        for session in sessions:  # the most recently used first
            if session.updated < since:
                break
            messages, _ = self.store.recent(session.id, 10**9)
            for m in messages:
                if m.role == "assistant" and (when := day(m.created)) in used:
                    used[when] += m.prompt_tokens + m.completion_tokens
        groups = Counter(group_of(m) for m in self.memory.store if m.active)
        memories = tuple((g, groups[g]) for g in ("self", *KINDS))
        messages = sum(s.message_count for s in sessions)
        self.emit(p.Stats(tuple(used.items()), memories, len(sessions), messages, request_id))

    def search(self, query: str, limit: int, request_id: str) -> None:
        found, total = search(self.memory.recall, query, limit)
        hits = []
        for item in found:
            turn = item.turn
            info = self.store.get(turn.session_id)
            before = self.memory.recall.previous_turn(turn)
            hits.append(
                p.SearchHit(
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
        self.emit(p.SearchResults(query, tuple(hits), total, request_id))

    def rename(self, session_id: str, title: str, request_id: str) -> p.SessionInfo | None:
        if self.store.get(session_id) is None:
            self.emit(p.Notice("warning", "That conversation is no longer stored.", request_id))
            return None
        self.store.rename(session_id, " ".join(title.split()))
        info = self.store.get(session_id)
        assert info is not None
        self.emit(p.SessionUpdated(info, request_id))
        return info

    def delete(self, session_id: str, with_memories: bool, request_id: str) -> None:
        info = self.store.get(session_id)
        if info is None:
            return
        self.store.delete(session_id)
        self.memory.remove_session(session_id)
        forgot = self.memory.forget_session(session_id, request_id) if with_memories else 0
        also = f" and {forgot:,} memories learnt in it" if forgot else ""
        title = info.title or "Untitled conversation"
        self.emit(p.Notice("information", f"Deleted “{title}”{also}.", request_id))

    def export(self, session_id: str, path: str, request_id: str) -> None:
        target = Path(path).expanduser().resolve()
        try:
            session = export.load(self.store, session_id)
        except KeyError:
            self.emit(p.Notice("warning", "That conversation is no longer stored.", request_id))
            return
        if target.exists():
            text = f"{target} exists already: choose another name (nothing was written)."
            self.emit(p.Notice("warning", text, request_id))
            return
        as_json = target.suffix.lower() == ".json"
        body = export.to_json(session) if as_json else export.to_markdown(session)
        try:
            write_private(target, body, private_parent=False)
        except OSError as exc:
            self.emit(p.Notice("error", f"Could not write {target}: {exc.strerror}", request_id))
            return
        self.emit(p.Notice("information", f"Exported to {target}", request_id))

    def import_file(self, path: str, request_id: str) -> p.SessionInfo | None:
        source = Path(path).expanduser()
        try:
            if source.stat().st_size > MAX_FILE:
                raise export.ImportProblem(f"larger than {MAX_FILE // 2**20} MB")
            session = export.from_json(source.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            self.emit(p.Notice("error", f"Could not read {source}: {exc.strerror}", request_id))
            return None
        except export.ImportProblem as exc:
            self.emit(p.Notice("error", f"Could not import {source}: {exc}", request_id))
            return None
        info = export.import_into(self.store, session)
        messages, _ = self.store.recent(info.id, 10**9)
        for message in messages:
            self.memory.add_turn(info.id, message)
        title = info.title or "Untitled conversation"
        self.emit(
            p.Notice(
                "information",
                f"Imported “{title}” ({info.message_count:,} messages).",
                request_id,
            )
        )
        return info
