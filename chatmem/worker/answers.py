"""What the worker answers a request with: a service's results and typed errors, as events.
Every refusal becomes its event here, and nowhere else."""

from __future__ import annotations

from chatmem import protocol as p
from chatmem.domain.recall import Recalled
from chatmem.llm.runaway import stopped_looping
from chatmem.services import chat, failures, turn
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


def step(step: turn.Step, request_id: str) -> p.Event:
    """What a chat turn tells, as the event the app shows."""
    match step:
        case turn.Saved():
            return p.MessageSaved(step.message, request_id)
        case turn.Renamed():
            return p.SessionUpdated(step.session, "")  # the session's news, not the answer
        case Recalled():
            return p.RecallUsed(step.items, step.tokens, step.semantic, request_id)
        case chat.Folding():
            return p.Folding(step.count, request_id)
        case chat.Folded():
            return p.ContextFolded(step.folded, step.summary, request_id)
        case chat.NotFolded():
            return p.Notice("warning", failures.NOT_FOLDED, request_id)
        case turn.Started():
            return p.ReplyStarted(step.reply_id, request_id)
        case turn.Delta():
            return p.ReplyDelta(step.reply_id, step.text, request_id)
        case turn.Done():
            return p.ReplyDone(step.reply, request_id)
        case turn.Counted():
            return p.UsageUpdated(step.usage, request_id)
        case turn.Failed():
            return p.ReplyFailed(step.user_id, step.error, step.partial, request_id)
        case turn.Looped():
            return p.Notice("warning", stopped_looping(step.model), request_id)
        case turn.Unsaved():
            return p.Notice("error", step.problem, request_id)
    raise TypeError(f"not a step of a turn: {step!r}")
