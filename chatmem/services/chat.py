"""The chat turn's records and rules: how an exchange ended and the reply it leaves, the
usage the sidebar shows, the session's title."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatmem.domain.context import TITLE_TOKENS, TooLarge, clip, fit, with_summary
from chatmem.domain.sessions import ChatMessage
from chatmem.domain.tokens import TokenCounter
from chatmem.domain.usage import Usage
from chatmem.llm.models import ModelInfo
from chatmem.services.line import ask
from chatmem.services.sessions import clean_title

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
    asked = [{"role": "system", "content": prompt}, {"role": "user", "content": said}]
    try:
        answer = await ask(llm, asked, model, TITLE_TOKENS)
    except Exception as exc:
        log.info("no title: %s", type(exc).__name__)
        return ""
    return clean_title(answer)
