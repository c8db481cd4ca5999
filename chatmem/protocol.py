"""The only thing the UI and the worker share: requests in, events out (the wire only; the
records they carry are the domain's).

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

# The domain records that events carry, re-exported: the UI reads them through this module.
from chatmem.domain.errors import ErrorInfo as ErrorInfo
from chatmem.domain.memories import FORM as FORM
from chatmem.domain.memories import MemoryRecord as MemoryRecord
from chatmem.domain.memories import MemoryRow as MemoryRow
from chatmem.domain.memories import MemoryVersion as MemoryVersion
from chatmem.domain.memories import RecallItem as RecallItem
from chatmem.domain.sessions import ChatMessage as ChatMessage
from chatmem.domain.sessions import SearchHit as SearchHit
from chatmem.domain.sessions import SessionInfo as SessionInfo
from chatmem.domain.sessions import SessionRow as SessionRow
from chatmem.domain.usage import Usage as Usage

if TYPE_CHECKING:
    import asyncio

    from chatmem.config import Settings

_ids = itertools.count(1)


def new_id() -> str:
    """A request id unique within this process."""
    return f"r{next(_ids)}"


# ---------------------------------------------------------------- requests (UI -> worker)


@dataclass(frozen=True)
class Start:
    """First request: open the profile's store and load a session."""

    settings: Settings
    new_session: bool = False
    session_id: str = ""  # open this session if it is stored (a restarted worker resumes it)
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class SendMessage:
    text: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class KeepCut:
    """The worker died while answering ``user_message_id``: store what the UI showed of the
    reply (``text``, may be empty) as cut off, so the resend key can ask again."""

    user_message_id: str
    text: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Resend:
    """Answer the stored user message that failed, without storing it again."""

    message_id: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Cancel:
    """Stop the reply that ``target`` started; its partial text is kept as cut off: the
    first ``shown`` characters (what the UI showed), or all that arrived when -1. A reply
    already whole that the UI was still drawing is cut to them too."""

    target: str
    shown: int = -1
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class LoadOlder:
    before_id: str
    limit: int = 50
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class LoadNewer:
    """A session opened at an older message: the ones after ``after_id``."""

    after_id: str
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
class ListMemories:
    """The browser's list: ``query`` words and filters (``type:person``, ``pinned``,
    ``superseded``, ``recalled``, ``after:DATE``, ``before:DATE``) within ``group``."""

    query: str = ""
    group: str = "all"  # self | person | event | fact | conversation | all
    superseded: bool = False  # show superseded memories too
    limit: int = 100
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class ShowMemory:
    memory_id: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class SaveMemory:
    """Add (``memory_id`` "") or edit a memory from the form's text values."""

    memory_id: str
    kind: str
    values: tuple[tuple[str, str], ...]
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class DeleteMemory:
    memory_id: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class PinMemory:
    memory_id: str
    pinned: bool
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class OpenSession:
    """Make this session the current one, showing ``message_id`` if given."""

    session_id: str
    message_id: str = ""
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class EndSession:
    """``/bye`` or a new session: write this one's journal entry and open a new one."""

    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class ListSessions:
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class SearchSessions:
    """Messages of every session holding all the words of ``query``, newest first."""

    query: str
    limit: int = 50
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class RenameSession:
    session_id: str
    title: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class DeleteSession:
    """Delete a session's transcript; its memories too only if ``with_memories``."""

    session_id: str
    with_memories: bool = False
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class ExportSession:
    """Write the session to ``path``: Markdown, or JSON when the name ends in ``.json``."""

    session_id: str
    path: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class ImportSession:
    """Add the session in a JSON export at ``path``."""

    path: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class GetStats:
    days: int = 30
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class SwitchProfile:
    """Close this profile's store and open ``name``'s (made if new) at its latest session."""

    name: str
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Shutdown:
    """The app is quitting: journal the session if it can be done quickly, then stop."""

    id: str = field(default_factory=new_id)


Request = (
    Start
    | SendMessage
    | Resend
    | KeepCut
    | Cancel
    | LoadOlder
    | LoadNewer
    | ListModels
    | SaveSettings
    | Remember
    | Forget
    | Undo
    | ListMemories
    | ShowMemory
    | SaveMemory
    | DeleteMemory
    | PinMemory
    | OpenSession
    | EndSession
    | ListSessions
    | SearchSessions
    | RenameSession
    | DeleteSession
    | ExportSession
    | ImportSession
    | SwitchProfile
    | GetStats
    | Shutdown
)


# ---------------------------------------------------------------- events (worker -> UI)


@dataclass(frozen=True)
class SessionLoaded:
    session: SessionInfo
    messages: tuple[ChatMessage, ...]  # the most recent ones (or from focus_id on), oldest first
    has_older: bool
    configured: bool  # a model and the means to reach it are set
    settings: Settings
    focus_id: str = ""  # opened at this message: show it, not the bottom
    has_newer: bool = False  # opened at an older message: later ones come with LoadNewer
    summary: str = ""  # the rolling summary of the oldest messages, if the session has one
    summarized: int = 0  # how many messages it stands for
    readonly: str = ""  # why the profile is open read-only ("": it is writable)
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
class NewerMessages:
    messages: tuple[ChatMessage, ...]
    has_newer: bool
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
    verb: str  # Remembered | Updated | Superseded | Forgot | Pinned | Unpinned | Undone
    kind: str
    title: str
    memory_id: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class Folding:
    """The reply waits while ``count`` earlier messages are summarized (Cancel stops it)."""

    count: int
    request_id: str = ""


@dataclass(frozen=True)
class ContextFolded:
    """The oldest ``summarized`` messages are now sent as ``summary`` (all are still stored)."""

    summarized: int
    summary: str
    request_id: str = ""


@dataclass(frozen=True)
class MemoryList:
    """The browser's list for a ``ListMemories``: counts per group, the newest rows first."""

    groups: tuple[tuple[str, int], ...]  # (group, matching memories)
    rows: tuple[MemoryRow, ...]
    total: int  # matches in the group (rows holds at most the request's limit)
    request_id: str = ""


@dataclass(frozen=True)
class MemoryShown:
    record: MemoryRecord | None  # None: no such memory (any more)
    request_id: str = ""


@dataclass(frozen=True)
class MemoryInvalid:
    """A ``SaveMemory`` that was refused: nothing was saved."""

    problems: tuple[tuple[str, str], ...]  # (field, what is wrong)
    request_id: str = ""


@dataclass(frozen=True)
class RecallUsed:
    """What memory went into the last request (the sidebar lists it)."""

    items: tuple[RecallItem, ...]
    tokens: int
    semantic: bool = False  # ranked by meaning (embeddings) as well as by words
    request_id: str = ""


@dataclass(frozen=True)
class SessionList:
    """Every session of the profile, the most recently used first (also after each change)."""

    rows: tuple[SessionRow, ...]
    current: str  # the session the chat shows
    profile: str
    profiles: tuple[str, ...]  # every profile in the data directory
    request_id: str = ""


@dataclass(frozen=True)
class SessionUpdated:
    """A session's title changed (generated after its first exchange, or renamed)."""

    session: SessionInfo
    request_id: str = ""


@dataclass(frozen=True)
class SearchResults:
    query: str
    hits: tuple[SearchHit, ...]
    total: int  # matching messages (hits holds the newest of them)
    request_id: str = ""


@dataclass(frozen=True)
class Stats:
    """For the stats screen: tokens used per day (oldest first) and memories by group."""

    days: tuple[tuple[str, int], ...]  # (YYYY-MM-DD, prompt + reply tokens), every day
    memories: tuple[tuple[str, int], ...]  # (self | person | event | fact | conversation, live)
    sessions: int
    messages: int
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
    | NewerMessages
    | ModelsListed
    | LocalServerFound
    | SettingsSaved
    | MemoryChanged
    | Folding
    | ContextFolded
    | MemoryList
    | MemoryShown
    | MemoryInvalid
    | RecallUsed
    | SessionList
    | SessionUpdated
    | SearchResults
    | Stats
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
