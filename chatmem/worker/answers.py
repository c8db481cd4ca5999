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


NOT_FOLDED = (
    "Could not summarize the older messages; the oldest are left out of this request instead "
    "(they are all still stored)."
)

# ---------------------------------------------------------------- why a reply failed


def too_long(tokens: int, model: str, budget: int) -> p.ErrorInfo:
    return p.ErrorInfo(
        "too_large",
        "Message too long for the model",
        f"This message is about {tokens:,} tokens; {model} takes {budget:,} for a whole "
        "request. It was not sent; shorten it or split it.",
    )


def too_large(tokens: int, model: str, budget: int) -> p.ErrorInfo:
    return p.ErrorInfo(
        "too_large",
        "Message too long for the model",
        f"About {tokens:,} tokens; {model} takes {budget:,}.",
    )


def stopped() -> p.ErrorInfo:
    return p.ErrorInfo(
        "stopped",
        "Stopped before the reply",
        "Your message is kept; it was not answered.",
        ("resend",),
    )


def worker_stopped(kept: bool) -> p.ErrorInfo:
    return p.ErrorInfo(
        "cut",
        "The reply was cut off",
        "The worker stopped while the reply was coming; what arrived is kept."
        if kept
        else "The worker stopped before the reply began.",
        ("resend",),
    )


def cut_off(base_url: str, model: str, how: str) -> p.ErrorInfo:
    """A reply that stopped part-way: the connection ``how`` ("broke", "ended")."""
    return p.ErrorInfo(
        "cut",
        "The reply was cut off",
        f"The connection to {base_url} {how} before {model} finished. What arrived is kept.",
        ("resend",),
    )


def length_limit(model: str, max_output_tokens: int) -> p.ErrorInfo:
    return p.ErrorInfo(
        "length",
        "The reply reached its length limit",
        f"{model} stopped at the most a reply may take here ({max_output_tokens:,} tokens, "
        "max_output_tokens); what arrived is kept. Ask it to go on, or raise "
        "max_output_tokens for this model in models.toml.",
    )


def no_reply(base_url: str, model: str, window: int) -> p.ErrorInfo:
    return p.ErrorInfo(
        "cut",
        "No reply arrived",
        f"The connection to {base_url} ended before {model} sent any text. If the request is "
        f"past the server's window (fitted here to {window:,} tokens), set context_window "
        "(CHATMEM_CONTEXT_WINDOW) to the server's.",
        ("resend", "settings"),
    )


def past_window(where: str, said: str, prompt: int, output: int, window: int) -> p.ErrorInfo:
    return p.ErrorInfo(
        "too_large",
        "The request is past the server's context window",
        f"{where} {said}; the request was about {prompt:,} tokens plus {output:,} for the "
        f"reply, fitted to a {window:,}-token window. Set context_window "
        "(CHATMEM_CONTEXT_WINDOW) to the server's window, or start the server with a larger "
        "one (llama.cpp: --ctx-size; llama-cpp-python: --n_ctx).",
        ("settings", "resend"),
    )
