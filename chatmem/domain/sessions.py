"""Messages and sessions: the records of a conversation, and what lists and searches show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatMessage:
    """One stored message of a session."""

    id: str
    role: str  # "user" | "assistant"
    content: str
    created: float
    tokens: int = 0  # what this message adds to a request
    status: str = "ok"  # "ok" | "cut" (partial reply) | "failed" (user message not answered)
    prompt_tokens: int = 0  # assistant replies: the usage of the request that produced them
    completion_tokens: int = 0


@dataclass(frozen=True)
class SessionInfo:
    id: str
    title: str
    created: float
    message_count: int
    updated: float = 0.0  # the newest message
    tokens: int = 0  # the whole transcript, as the model's tokenizer counts it


@dataclass(frozen=True)
class SessionRow:
    """One line of the sessions screen."""

    session: SessionInfo
    memories: int  # memories learnt in it (its journal entry included)


@dataclass(frozen=True)
class SearchHit:
    """A message that matches a transcript search, with the part that matched."""

    session_id: str
    session_title: str
    message_id: str
    role: str
    created: float
    snippet: str
    marks: tuple[tuple[int, int], ...]  # (start, end) of each match in ``snippet``
    replying_to: str = ""  # the message before it, clipped: the context of an answer
