"""The memory and session requests: each calls its service and answers with events (a
service's typed error is answered by ``Worker.handle``, through ``answers.refusal``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chatmem import protocol as p
from chatmem.services.errors import NotFound
from chatmem.services.memories import Changed, MemoryService
from chatmem.services.sessions import SessionService
from chatmem.worker import answers


class Worker(Protocol):
    """What these handlers need of the worker (``chatmem.worker.core.Worker``)."""

    emit: Callable[[p.Event], None]

    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def recalled_ids(self) -> set[str]: ...  # the memories that went into the last request

    def memory_service(self) -> MemoryService: ...
    def session_service(self) -> SessionService: ...
    def session_id(self) -> str: ...
    def tell(self, done: list[Changed], request_id: str) -> None: ...
    def list_sessions(self, request_id: str) -> None: ...
    def rename(self, session_id: str, title: str, request_id: str) -> None: ...
    def show_latest(self, request_id: str) -> None: ...


def remember(w: Worker, r: p.Remember) -> None:
    w.tell(w.memory_service().remember(r.text, w.session_id()), r.id)


def forget(w: Worker, r: p.Forget) -> None:
    w.tell(w.memory_service().forget(r.query), r.id)


def undo(w: Worker, r: p.Undo) -> None:
    w.tell(w.memory_service().undo(r.change_id), r.id)


def list_memories(w: Worker, r: p.ListMemories) -> None:
    found = w.memory_service().browse(r.query, r.group, r.superseded, w.recalled_ids, r.limit)
    groups, rows, total = found
    w.emit(p.MemoryList(groups, tuple(rows), total, r.id))


def show_memory(w: Worker, r: p.ShowMemory) -> None:
    w.emit(p.MemoryShown(w.memory_service().show(r.memory_id), r.id))


def save_memory(w: Worker, r: p.SaveMemory) -> None:
    w.tell(w.memory_service().save(r.memory_id, r.kind, dict(r.values)), r.id)


def delete_memory(w: Worker, r: p.DeleteMemory) -> None:
    w.tell(w.memory_service().delete(r.memory_id), r.id)


def pin_memory(w: Worker, r: p.PinMemory) -> None:
    w.tell(w.memory_service().pin(r.memory_id, r.pinned), r.id)


def list_sessions(w: Worker, r: p.ListSessions) -> None:
    w.list_sessions(r.id)


def rename_session(w: Worker, r: p.RenameSession) -> None:
    try:
        w.rename(r.session_id, r.title, "")
    finally:  # the list as it is, renamed or gone
        w.list_sessions(r.id)


def export_session(w: Worker, r: p.ExportSession) -> None:
    target = w.session_service().export(r.session_id, r.path)
    w.emit(p.Notice("information", f"Exported to {target}", r.id))


def import_session(w: Worker, r: p.ImportSession) -> None:
    info = w.session_service().import_file(r.path)
    title = info.title or "Untitled conversation"
    w.emit(p.Notice("information", f"Imported “{title}” ({info.message_count:,} messages).", r.id))
    w.list_sessions(r.id)


async def search_sessions(w: Worker, r: p.SearchSessions) -> None:
    hits, total = w.session_service().search(r.query, r.limit)
    w.emit(p.SearchResults(r.query, hits, total, r.id))


def stats(w: Worker, r: p.GetStats) -> None:
    totals = w.session_service().stats(r.days, w.clock())
    w.emit(p.Stats(totals.days, totals.memories, totals.sessions, totals.messages, r.id))


async def delete_session(w: Worker, r: p.DeleteSession) -> None:
    """Delete it; if the chat showed it, show the latest instead."""
    try:
        gone = w.session_service().delete(r.session_id, r.with_memories)
    except NotFound:  # deleted meanwhile: the list shows it
        pass
    else:
        for event in answers.deleted(gone, r.id):
            w.emit(event)
    if r.session_id == w.session_id():
        w.show_latest(r.id)
    w.list_sessions(r.id)
