"""The memory and session requests: each calls its service and answers with events (a
service's typed error is answered by ``Worker.handle``, through ``answers.refusal``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatmem import protocol as p
from chatmem.services.errors import NotFound
from chatmem.worker import answers

if TYPE_CHECKING:
    from chatmem.worker.core import Worker


def remember(w: Worker, r: p.Remember) -> None:
    w._tell(w._memory().remember(r.text, w._session_id()), r.id)


def forget(w: Worker, r: p.Forget) -> None:
    w._tell(w._memory().forget(r.query), r.id)


def undo(w: Worker, r: p.Undo) -> None:
    w._tell(w._memory().undo(r.change_id), r.id)


def list_memories(w: Worker, r: p.ListMemories) -> None:
    found = w._memory().browse(r.query, r.group, r.superseded, w._recalled_ids, r.limit)
    groups, rows, total = found
    w.emit(p.MemoryList(groups, tuple(rows), total, r.id))


def show_memory(w: Worker, r: p.ShowMemory) -> None:
    w.emit(p.MemoryShown(w._memory().show(r.memory_id), r.id))


def save_memory(w: Worker, r: p.SaveMemory) -> None:
    w._tell(w._memory().save(r.memory_id, r.kind, dict(r.values)), r.id)


def delete_memory(w: Worker, r: p.DeleteMemory) -> None:
    w._tell(w._memory().delete(r.memory_id), r.id)


def pin_memory(w: Worker, r: p.PinMemory) -> None:
    w._tell(w._memory().pin(r.memory_id, r.pinned), r.id)


def list_sessions(w: Worker, r: p.ListSessions) -> None:
    w._list_sessions(r.id)


def rename_session(w: Worker, r: p.RenameSession) -> None:
    try:
        w._rename(r.session_id, r.title, "")
    finally:  # the list as it is, renamed or gone
        w._list_sessions(r.id)


def export_session(w: Worker, r: p.ExportSession) -> None:
    target = w._sessions().export(r.session_id, r.path)
    w.emit(p.Notice("information", f"Exported to {target}", r.id))


def import_session(w: Worker, r: p.ImportSession) -> None:
    info = w._sessions().import_file(r.path)
    title = info.title or "Untitled conversation"
    w.emit(p.Notice("information", f"Imported “{title}” ({info.message_count:,} messages).", r.id))
    w._list_sessions(r.id)


async def search_sessions(w: Worker, r: p.SearchSessions) -> None:
    hits, total = w._sessions().search(r.query, r.limit)
    w.emit(p.SearchResults(r.query, hits, total, r.id))


def stats(w: Worker, r: p.GetStats) -> None:
    totals = w._sessions().stats(r.days, w.clock())
    w.emit(p.Stats(totals.days, totals.memories, totals.sessions, totals.messages, r.id))


async def delete_session(w: Worker, r: p.DeleteSession) -> None:
    """Delete it; if the chat showed it, show the latest instead."""
    try:
        gone = w._sessions().delete(r.session_id, r.with_memories)
    except NotFound:  # deleted meanwhile: the list shows it
        pass
    else:
        for event in answers.deleted(gone, r.id):
            w.emit(event)
    if r.session_id == w._session_id():
        w._show_latest(r.id)
    w._list_sessions(r.id)
