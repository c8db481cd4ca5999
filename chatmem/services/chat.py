"""The chat turn's records and rules that need no network: how an exchange ended, and the
reply message it leaves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatmem import protocol as p
from chatmem.domain.tokens import TokenCounter

if TYPE_CHECKING:
    from chatmem.llm.client import Finish


@dataclass(frozen=True)
class Ending:
    """How the reply to ``user`` ended: the text that arrived, what the server said at the
    end (None: it said nothing, the stream broke or was stopped) and the prompt as counted
    here (used when the server reports no usage)."""

    user: p.ChatMessage
    reply_id: str
    parts: tuple[str, ...]
    finish: Finish | None
    counted_prompt: int
    status: str  # "ok": whole | "cut": what arrived before it stopped


def reply_of(ending: Ending, counter: TokenCounter, now: float) -> p.ChatMessage:
    """The reply message, with the server's token counts where it gave them."""
    text, finish = "".join(ending.parts), ending.finish
    prompt = ending.counted_prompt
    if finish is not None and finish.prompt_tokens is not None:
        prompt = finish.prompt_tokens
    completion = counter.count(text)
    if finish is not None and finish.completion_tokens is not None:
        completion = finish.completion_tokens
    return p.ChatMessage(
        id=ending.reply_id,
        role="assistant",
        content=text,
        created=now,
        tokens=counter.count_message(text),
        status=ending.status,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )
