"""Assemble a request under the model's context window, folding old turns into a summary."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from chatmem.domain.sessions import ChatMessage
from chatmem.domain.tokens import REPLY_PRIMING, TokenCounter


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


SUMMARY_HEADING = "# Earlier in this conversation (a summary; the messages follow it)"


def with_summary(system: str, summary: str) -> str:
    return f"{system}\n\n{SUMMARY_HEADING}\n\n{summary}" if summary else system


MEMORY_HEADING = "# Your memory (recalled for this message; the user did not write it)"
MESSAGE_HEADING = "# The user's message"


def with_memory(message: str, recalled: str) -> str:
    """The newest user message with the memory recalled for it: what changes every turn goes
    last, so the system prompt, summary and history before it stay a cacheable prefix."""
    return (
        f"{MEMORY_HEADING}\n\n{recalled}\n\n{MESSAGE_HEADING}\n\n{message}" if recalled else message
    )


@dataclass(frozen=True)
class Thresholds:
    """When to fold: the unsummarized conversation passes ``tokens`` or ``messages``."""

    tokens: int
    messages: int


def clip(text: str, counter: TokenCounter, limit: int) -> str:
    """``text`` cut to about ``limit`` tokens (a summary the model made too long)."""
    tokens = counter.count(text)
    while tokens > limit and len(text) > 1:
        text = text[: max(int(len(text) * limit / tokens * 0.95), 0)].rstrip() + "…"
        tokens = counter.count(text)
    return text


# The most each kind of background request may write (its ``max_tokens``); fold and journal
# are also held to a share of the window.
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
TITLE_TOKENS = 20
EXTRACT_TOKENS = 400
FOLD_TOKENS = 600
JOURNAL_TOKENS = 600


def looping(text: str) -> bool:
    """Obvious repetition, as a small model stuck in a loop writes: a sentence of five words
    or more, or a line of 20 characters or more, said three times or more."""
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(text)]
    seen = Counter(s for s in sentences if len(s.split()) >= 5)
    seen.update(ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 20)
    return bool(seen) and max(seen.values()) >= 3


def leading(costs: Sequence[int], limit: int) -> int:
    """How many of the first ``costs`` fit in ``limit`` together (at least one)."""
    used = 0
    for count, cost in enumerate(costs):
        used += cost
        if count and used > limit:
            return count
    return len(costs)


def to_fold(
    history: Sequence[ChatMessage],
    counter: TokenCounter,
    room: int,
    limits: Thresholds,
) -> int:
    """How many of the oldest messages of ``history`` to fold into the summary now (0: none).

    ``room`` is what the conversation may take of the window. Folding starts when the
    conversation passes the token or the message threshold (or does not fit at all), and
    keeps the newest messages verbatim: at most half of either threshold, at least two.
    """
    costs = [message_tokens(m, counter) for m in history]
    cap = min(room, limits.tokens)
    if sum(costs) <= cap and len(history) <= limits.messages:
        return 0
    keep_tokens, keep_messages = cap // 2, max(limits.messages // 2, 2)
    kept = used = 0
    for cost in reversed(costs):
        if kept >= 2 and (used + cost > keep_tokens or kept >= keep_messages):
            break
        used += cost
        kept += 1
    return turn_start(history, len(history) - kept)


def turn_start(history: Sequence[ChatMessage], at: int, floor: int = 0) -> int:
    """``at`` moved to where a turn starts (a user message, its answer after it), so a cut
    there never parts a question from its answer: back, or forward if no turn starts
    between ``floor`` and ``at``."""
    back = at
    while back > floor and history[back].role != "user":
        back -= 1
    if back > floor:
        return back
    forward = next((i for i in range(at, len(history)) if history[i].role == "user"), None)
    return at if forward is None else forward


def alternate(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Roles taking turns, as chat templates demand: the conversation opens with the user;
    of two replies in a row (a cut one, then its resend) the later stands; two user messages
    in a row (the first never answered) go as one."""
    out: list[dict[str, str]] = []
    for message in messages:
        last = out[-1] if out else None
        if message["role"] == "assistant" and (last is None or last["role"] == "system"):
            continue
        if last is not None and last["role"] == message["role"] != "system":
            if message["role"] == "user":
                message = {"role": "user", "content": f"{last['content']}\n\n{message['content']}"}
            out.pop()
        out.append(message)
    return out


def fit(
    system: str,
    history: Sequence[ChatMessage],
    counter: TokenCounter,
    window: int,
    reserve: int,
    recalled: str = "",
) -> Fitted:
    """System prompt plus the newest messages that fit ``window - reserve``, oldest dropped;
    the ``recalled`` memory goes with the newest user message.

    Walks back from the newest message, so the cost is O(what is sent), not O(history).
    """
    budget = window - reserve - REPLY_PRIMING
    used = counter.count_message(system) if system else 0
    if recalled:
        used += counter.count(with_memory("", recalled))
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
    messages = alternate(messages)
    if recalled and messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": with_memory(messages[-1]["content"], recalled)}
    return Fitted(messages, used + REPLY_PRIMING, len(history) - len(kept))
