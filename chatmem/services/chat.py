"""The chat turn's records and rules: folding old turns into the summary, how an exchange
ended and the reply it leaves, the usage the sidebar shows, the session's title."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatmem.domain.context import (
    FOLD_TOKENS,
    TITLE_TOKENS,
    Thresholds,
    TooLarge,
    clip,
    fit,
    leading,
    to_fold,
    turn_start,
    with_memory,
    with_summary,
)
from chatmem.domain.sessions import ChatMessage
from chatmem.domain.tokens import REPLY_PRIMING, TokenCounter
from chatmem.domain.usage import Usage
from chatmem.llm.models import ModelInfo
from chatmem.services.line import Unusable, ask, asking
from chatmem.services.sessions import clean_title
from chatmem.store.sessions import SessionStore

if TYPE_CHECKING:
    from chatmem.llm.client import LLM, Finish

log = logging.getLogger(__name__)

SPARK_TURNS = 40  # turns in the sidebar's sparkline


@dataclass(frozen=True)
class Ending:
    """How the reply to ``user`` ended: the text that arrived, what the server said at the
    end (None: it said nothing, the stream broke or was stopped) and the prompt as counted
    here (used when the server reports no usage)."""

    user: ChatMessage
    reply_id: str
    parts: tuple[str, ...]
    finish: Finish | None
    counted_prompt: int
    status: str  # "ok": whole | "cut": what arrived before it stopped


def reply_of(ending: Ending, counter: TokenCounter, now: float) -> ChatMessage:
    """The reply message, with the server's token counts where it gave them."""
    text, finish = "".join(ending.parts), ending.finish
    prompt = ending.counted_prompt
    if finish is not None and finish.prompt_tokens is not None:
        prompt = finish.prompt_tokens
    completion = counter.count(text)
    if finish is not None and finish.completion_tokens is not None:
        completion = finish.completion_tokens
    return ChatMessage(
        id=ending.reply_id,
        role="assistant",
        content=text,
        created=now,
        tokens=counter.count_message(text),
        status=ending.status,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


@dataclass(frozen=True)
class Context:
    """What the next request would carry: the system prompt, the session's summary and the
    messages after it, the memory recalled last."""

    system: str
    summary: str
    folded: int  # messages the summary stands for
    history: list[ChatMessage]
    recalled: str


def usage_of(
    context: Context,
    model: ModelInfo,
    counter: TokenCounter,
    totals: tuple[int, int],
    last: tuple[int, int] = (0, 0),
    named: bool = True,
) -> Usage:
    """The sidebar's figures: the context against the window, the session's tokens
    (``totals``: prompt, completion) and cost, the last exchange's, the recent turns'.
    ``named``: a model is configured (else no name is shown)."""
    verbatim = context.history[context.folded :]
    try:
        fitted = fit(
            with_summary(context.system, context.summary),
            verbatim,
            counter,
            model.context_window,
            0,
            context.recalled,
        )
        tokens, sent = fitted.prompt_tokens, len(verbatim) - fitted.dropped
    except TooLarge as exc:
        tokens, sent = exc.tokens, 0
    return Usage(
        model=model.name if named else "",
        context_tokens=tokens,
        context_window=model.context_window,
        window_assumed=model.assumed,
        estimated=counter.estimated,
        last_prompt=last[0],
        last_completion=last[1],
        session_prompt=totals[0],
        session_completion=totals[1],
        session_cost=model.cost(*totals),
        verbatim_messages=sent,
        summary_tokens=counter.count(context.summary) if context.summary else 0,
        summarized_messages=context.folded,
        memory_tokens=counter.count(context.recalled) if context.recalled else 0,
        turn_tokens=tuple(
            m.prompt_tokens + m.completion_tokens
            for m in context.history[-2 * SPARK_TURNS :]
            if m.role == "assistant"
        )[-SPARK_TURNS:],
    )


async def title_for(
    llm: LLM, model: str, prompt: str, exchange: tuple[ChatMessage, ChatMessage],
    counter: TokenCounter,
) -> str:  # fmt: skip
    """The model's title for a session from its first exchange; "" if it gives none."""
    user, reply = exchange  # the start of the exchange names it well enough
    said = f"User: {clip(user.content, counter, 300)}\n\nAssistant: "
    said += clip(reply.content, counter, 200)
    try:
        answer = await ask(llm, asking(prompt, said), model, TITLE_TOKENS)
    except Exception as exc:
        log.info("no title: %s", type(exc).__name__)
        return ""
    return clean_title(answer)


@dataclass(frozen=True)
class Folding:
    """The next ``count`` messages are being summarized."""

    count: int


@dataclass(frozen=True)
class Folded:
    """The summary (stored) now stands for the session's first ``folded`` messages."""

    folded: int
    summary: str


@dataclass(frozen=True)
class NotFolded:
    """The model could not summarize: the oldest messages are left out of the request."""


async def fold(
    llm: LLM,
    model: ModelInfo,
    prompt: str,
    context: Context,
    counter: TokenCounter,
    limits: Thresholds,
    store: SessionStore,
    session_id: str,
) -> AsyncIterator[Folding | Folded | NotFolded]:
    """Fold the oldest turns into the session's rolling summary while the conversation is
    past a threshold or does not fit, saying how it goes; if the model cannot do it, they are
    trimmed instead (``NotFolded``)."""
    summary, folded, history = context.summary, context.folded, context.history
    room = model.context_window - model.max_output_tokens - REPLY_PRIMING
    while True:
        left = room - counter.count_message(with_summary(context.system, summary))
        left -= counter.count(with_memory("", context.recalled)) if context.recalled else 0
        count = to_fold(history[folded:], counter, left, limits)
        if not count:
            return
        costs = [m.tokens or counter.count_message(m.content) for m in history[folded:]]
        end = folded + min(count, leading(costs, room // 2))
        chunk = history[folded : turn_start(history, end, folded)]
        yield Folding(len(chunk))
        transcript = "\n\n".join(
            f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in chunk
        )
        asked = asking(
            prompt, f"Summary so far:\n{summary or '(none)'}\n\nNext messages:\n{transcript}"
        )
        try:
            new = await ask(llm, asked, model.name, min(FOLD_TOKENS, room // 4))
        except Exception as exc:
            log.info("folding failed: %s", exc if isinstance(exc, Unusable) else type(exc))
            new = ""
        if not new:
            yield NotFolded()
            return
        summary, folded = new, folded + len(chunk)
        store.set_summary(session_id, summary, folded)
        yield Folded(folded, summary)
