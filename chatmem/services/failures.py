"""Why a message was not answered, or only in part: the ``ErrorInfo`` the chat shows (the
worker sends it in ``ReplyFailed``; ``chatmem ask`` prints its title and message)."""

from __future__ import annotations

from chatmem.domain.errors import ErrorInfo

NOT_FOLDED = (
    "Could not summarize the older messages; the oldest are left out of this request instead "
    "(they are all still stored)."
)


def read_only(reason: str) -> ErrorInfo:
    return ErrorInfo("read_only", "Read-only: your message was not sent", reason)


def unsaved(problem: str) -> ErrorInfo:
    return ErrorInfo("storage", "Your message was not saved or sent", problem)


def too_long(tokens: int, model: str, budget: int) -> ErrorInfo:
    return ErrorInfo(
        "too_large",
        "Message too long for the model",
        f"This message is about {tokens:,} tokens; {model} takes {budget:,} for a whole "
        "request. It was not sent; shorten it or split it.",
    )


def too_large(tokens: int, model: str, budget: int) -> ErrorInfo:
    return ErrorInfo(
        "too_large",
        "Message too long for the model",
        f"About {tokens:,} tokens; {model} takes {budget:,}.",
    )


def stopped() -> ErrorInfo:
    return ErrorInfo(
        "stopped",
        "Stopped before the reply",
        "Your message is kept; it was not answered.",
        ("resend",),
    )


def worker_stopped(kept: bool) -> ErrorInfo:
    return ErrorInfo(
        "cut",
        "The reply was cut off",
        "The worker stopped while the reply was coming; what arrived is kept."
        if kept
        else "The worker stopped before the reply began.",
        ("resend",),
    )


def cut_off(base_url: str, model: str, how: str) -> ErrorInfo:
    """A reply that stopped part-way: the connection ``how`` ("broke", "ended")."""
    return ErrorInfo(
        "cut",
        "The reply was cut off",
        f"The connection to {base_url} {how} before {model} finished. What arrived is kept.",
        ("resend",),
    )


def length_limit(model: str, max_output_tokens: int) -> ErrorInfo:
    return ErrorInfo(
        "length",
        "The reply reached its length limit",
        f"{model} stopped at the most a reply may take here ({max_output_tokens:,} tokens, "
        "max_output_tokens); what arrived is kept. Ask it to go on, or raise "
        "max_output_tokens for this model in models.toml.",
    )


def no_reply(base_url: str, model: str, window: int) -> ErrorInfo:
    return ErrorInfo(
        "cut",
        "No reply arrived",
        f"The connection to {base_url} ended before {model} sent any text. If the request is "
        f"past the server's window (fitted here to {window:,} tokens), set context_window "
        "(CHATMEM_CONTEXT_WINDOW) to the server's.",
        ("resend", "settings"),
    )


def past_window(where: str, said: str, prompt: int, output: int, window: int) -> ErrorInfo:
    return ErrorInfo(
        "too_large",
        "The request is past the server's context window",
        f"{where} {said}; the request was about {prompt:,} tokens plus {output:,} for the "
        f"reply, fitted to a {window:,}-token window. Set context_window "
        "(CHATMEM_CONTEXT_WINDOW) to the server's window, or start the server with a larger "
        "one (llama.cpp: --ctx-size; llama-cpp-python: --n_ctx).",
        ("settings", "resend"),
    )
