"""The only thing the UI and the worker share: requests in, events out.

Every message is a small frozen dataclass of plain data, so it pickles cheaply across
the process boundary. A request carries an ``id``; every event names the request it
answers in ``request_id`` ("" when the worker speaks unprompted). Frames on the wire
are a 4-byte big-endian length followed by a pickle.
"""

from __future__ import annotations

import itertools
import pickle
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from chatmem.config import Settings

_ids = itertools.count(1)


def new_id() -> str:
    """A request id unique within this process."""
    return f"r{next(_ids)}"


# ---------------------------------------------------------------- shared records


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


@dataclass(frozen=True)
class ErrorInfo:
    """A failure the user can act on; ``message`` names the base URL and model."""

    # no_model | no_key | auth | not_found | rate_limit | server | timeout | connection
    # | bad_request | too_large | cut | unknown
    kind: str
    title: str
    message: str


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


@dataclass(frozen=True)
class RecallItem:
    """A memory (or an earlier message) that went into a request, and what it cost."""

    kind: str  # person | event | fact | conversation | message
    id: str
    title: str
    tokens: int


# ---------------------------------------------------------------- requests (UI -> worker)


@dataclass(frozen=True)
class Start:
    """First request: open the profile's store and load a session."""

    settings: Settings
    new_session: bool = False
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class SendMessage:
    text: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Resend:
    """Answer the stored user message that failed, without storing it again."""

    message_id: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Cancel:
    """Stop the reply that ``target`` started; its partial text is kept as cut off."""

    target: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class LoadOlder:
    before_id: str
    limit: int = 50
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class ListModels:
    base_url: str
    api_key: str = ""
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class SaveSettings:
    """Persist these values to the config file and use them from now on."""

    values: dict[str, str]
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Remember:
    """``/remember TEXT``: store it as a fact, as the user said it."""

    text: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Forget:
    """``/forget TEXT-OR-ID``: delete the memory with that id, or the best match."""

    query: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Undo:
    """Take back a memory change (``MemoryChanged.change_id``)."""

    change_id: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class EndSession:
    """``/bye``: write this session's journal entry and open a new session."""

    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Shutdown:
    """The app is quitting: journal the session if it can be done quickly, then stop."""

    id: str = field(default_factory=new_id)


Request = (
    Start
    | SendMessage
    | Resend
    | Cancel
    | LoadOlder
    | ListModels
    | SaveSettings
    | Remember
    | Forget
    | Undo
    | EndSession
    | Shutdown
)


# ---------------------------------------------------------------- events (worker -> UI)


@dataclass(frozen=True)
class SessionLoaded:
    session: SessionInfo
    messages: tuple[ChatMessage, ...]  # the most recent ones, oldest first
    has_older: bool
    configured: bool  # a model and the means to reach it are set
    settings: Settings
    request_id: str = ""


@dataclass(frozen=True)
class Notice:
    level: str  # "information" | "warning" | "error"
    text: str
    request_id: str = ""


@dataclass(frozen=True)
class MessageSaved:
    message: ChatMessage
    request_id: str = ""


@dataclass(frozen=True)
class ReplyStarted:
    message_id: str
    request_id: str = ""


@dataclass(frozen=True)
class ReplyDelta:
    message_id: str
    text: str
    request_id: str = ""


@dataclass(frozen=True)
class ReplyDone:
    message: ChatMessage  # status "cut" when cancelled or the stream ended early
    request_id: str = ""


@dataclass(frozen=True)
class ReplyFailed:
    user_message_id: str
    error: ErrorInfo
    partial: ChatMessage | None = None
    request_id: str = ""


@dataclass(frozen=True)
class UsageUpdated:
    usage: Usage
    request_id: str = ""


@dataclass(frozen=True)
class OlderMessages:
    messages: tuple[ChatMessage, ...]
    has_older: bool
    request_id: str = ""


@dataclass(frozen=True)
class ModelsListed:
    base_url: str
    models: tuple[str, ...]
    error: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class LocalServerFound:
    """An Ollama-style server answers on its default local port."""

    base_url: str
    models: tuple[str, ...]
    request_id: str = ""


@dataclass(frozen=True)
class SettingsSaved:
    settings: Settings
    configured: bool
    path: str
    request_id: str = ""


@dataclass(frozen=True)
class MemoryChanged:
    """A memory was added, updated, superseded, forgotten or restored."""

    change_id: str  # for Undo; "" when the change cannot be undone
    verb: str  # Remembered | Updated | Superseded | Forgot | Undone
    kind: str
    title: str
    request_id: str = ""


@dataclass(frozen=True)
class RecallUsed:
    """What memory went into the last request (the sidebar lists it)."""

    items: tuple[RecallItem, ...]
    tokens: int
    semantic: bool = False  # ranked by meaning (embeddings) as well as by words
    request_id: str = ""


@dataclass(frozen=True)
class WorkerDown:
    """Sent by the link, not the worker: the worker process died and is restarting."""

    reason: str
    request_id: str = ""


Event = (
    SessionLoaded
    | Notice
    | MessageSaved
    | ReplyStarted
    | ReplyDelta
    | ReplyDone
    | ReplyFailed
    | UsageUpdated
    | OlderMessages
    | ModelsListed
    | LocalServerFound
    | SettingsSaved
    | MemoryChanged
    | RecallUsed
    | WorkerDown
)


# ---------------------------------------------------------------- framing

_HEADER = struct.Struct(">I")


def pack(message: Request | Event) -> bytes:
    """One frame: length prefix and pickle."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Request | Event:
    """Read one frame; raises ``asyncio.IncompleteReadError`` at end of stream."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))
