"""Assemble a request under the model's context window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatmem.protocol import ChatMessage
from chatmem.tokens import REPLY_PRIMING, TokenCounter


class TooLarge(Exception):
    """The newest message alone does not fit the window."""

    def __init__(self, tokens: int, budget: int) -> None:
        super().__init__(f"{tokens} tokens, {budget} available")
        self.tokens = tokens
        self.budget = budget


@dataclass(frozen=True)
class Fitted:
    messages: list[dict[str, str]]
    prompt_tokens: int
    dropped: int  # oldest messages left out to fit


def message_tokens(message: ChatMessage, counter: TokenCounter) -> int:
    return message.tokens or counter.count_message(message.content)


def fit(
    system: str,
    history: Sequence[ChatMessage],
    counter: TokenCounter,
    window: int,
    reserve: int,
) -> Fitted:
    """System prompt plus the newest messages that fit ``window - reserve``, oldest dropped.

    Walks back from the newest message, so the cost is O(what is sent), not O(history).
    """
    budget = window - reserve - REPLY_PRIMING
    used = counter.count_message(system) if system else 0
    kept: list[ChatMessage] = []
    for message in reversed(history):
        cost = message_tokens(message, counter)
        if used + cost > budget:
            if not kept:
                raise TooLarge(used + cost, budget)
            break
        used += cost
        kept.append(message)
    kept.reverse()
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": m.role, "content": m.content} for m in kept if m.content]
    return Fitted(messages, used + REPLY_PRIMING, len(history) - len(kept))
