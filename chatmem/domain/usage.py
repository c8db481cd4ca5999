"""What a request costs and holds, as the token sidebar shows it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """What the token sidebar shows."""

    model: str
    context_tokens: int  # prompt tokens of the next request
    context_window: int
    window_assumed: bool  # the model is not in the table: the window is a guess
    estimated: bool  # counts are estimates, not the model's tokenizer
    last_prompt: int = 0
    last_completion: int = 0
    session_prompt: int = 0
    session_completion: int = 0
    session_cost: float | None = None  # USD; None when the price is unknown
    # What the next request holds besides the system prompt:
    verbatim_messages: int = 0  # the newest messages, sent as they are
    summary_tokens: int = 0  # the rolling summary of the older ones
    summarized_messages: int = 0
    memory_tokens: int = 0
    turn_tokens: tuple[int, ...] = ()  # prompt + reply tokens of the latest turns, oldest first
