"""What the worker answers a request with: a service's results and typed errors, as events.
Every refusal becomes its event here, and nowhere else."""

from __future__ import annotations

from chatmem import protocol as p
from chatmem.services.errors import Invalid, ServiceError
from chatmem.services.memories import Changed
from chatmem.services.sessions import Deleted


def refusal(exc: ServiceError, request: p.Request | None, request_id: str) -> p.Event:
    """A service's typed error: the form's problems for a ``SaveMemory``, else a notice."""
    if isinstance(request, p.SaveMemory):
        problems = exc.problems if isinstance(exc, Invalid) else (("", str(exc)),)
        return p.MemoryInvalid(problems, request_id)
    return p.Notice(exc.level, str(exc), request_id)


def changed(done: list[Changed], request_id: str) -> list[p.Event]:
    """One line per memory changed (the app shows them and offers undo)."""
    return [
        p.MemoryChanged(c.change_id, c.verb, c.kind, c.title, c.memory_id, request_id) for c in done
    ]


def deleted(gone: Deleted, request_id: str) -> list[p.Event]:
    said: list[p.Event] = []
    if gone.forgot:
        title = f"{gone.forgot:,} learnt in a deleted conversation"
        said.append(p.MemoryChanged("", "Forgot", "memories", title, "", request_id))
    also = f" and {gone.forgot:,} memories learnt in it" if gone.forgot else ""
    title = gone.info.title or "Untitled conversation"
    said.append(p.Notice("information", f"Deleted “{title}”{also}.", request_id))
    return said


def read_only(reason: str) -> p.ErrorInfo:
    return p.ErrorInfo("read_only", "Read-only: your message was not sent", reason)


def unsaved(problem: str) -> p.ErrorInfo:
    return p.ErrorInfo("storage", "Your message was not saved or sent", problem)
