"""The chat service: the session the chat shows, the model it is asked with, and the turn —
a message stored, memory recalled, old turns folded, the request fitted, the reply streamed
and kept whatever happens.

A turn tells how it goes through ``report`` (the worker makes each step its event;
``chatmem ask`` prints them) and returns the whole reply's exchange for the work that follows
it (extraction, the session's title); a message refused before it is stored raises
``NotSent``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from chatmem.config import Settings
from chatmem.domain.context import Fitted, Thresholds, TooLarge, fit, with_memory, with_summary
from chatmem.domain.errors import ErrorInfo
from chatmem.domain.recall import Recalled
from chatmem.domain.sessions import ChatMessage, SessionInfo
from chatmem.domain.tokens import clean_text
from chatmem.domain.usage import Usage
from chatmem.llm import errors
from chatmem.llm.models import ModelInfo, ModelTable, window_in_error
from chatmem.llm.runaway import LoopWatch
from chatmem.llm.tokenize import ServerCounter
from chatmem.prompts import load_prompt
from chatmem.services import chat, failures
from chatmem.services.chat import Context, Ending, reply_of, title_for, usage_of
from chatmem.services.errors import NotFound, NotSent
from chatmem.services.line import Line
from chatmem.services.memories import Changed
from chatmem.services.profiles import OpenProfile, storage_problem
from chatmem.services.sessions import fallback_title
from chatmem.store.atomic import StoreError
from chatmem.store.sessions import SessionStore

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.03  # seconds between Delta steps: the UI renders batches, not tokens
PROMPTS = ("extract", "summarize", "fold", "title")  # the background tasks' instructions


def new_message_id() -> str:
    return uuid.uuid4().hex[:12]


# ---------------------------------------------------------------- what a turn tells


@dataclass(frozen=True)
class Saved:
    """The user's message is stored."""

    message: ChatMessage


@dataclass(frozen=True)
class Renamed:
    """The session is named (after its first message)."""

    session: SessionInfo


@dataclass(frozen=True)
class Started:
    """The reply ``reply_id`` begins."""

    reply_id: str


@dataclass(frozen=True)
class Delta:
    """More of the reply's text."""

    reply_id: str
    text: str


@dataclass(frozen=True)
class Done:
    """The reply is kept: whole, or cut where the user stopped it (or it looped)."""

    reply: ChatMessage


@dataclass(frozen=True)
class Failed:
    """The message ``user_id`` got no whole reply: why, and the part kept (if any)."""

    user_id: str
    error: ErrorInfo
    partial: ChatMessage | None


@dataclass(frozen=True)
class Counted:
    """The usage after the turn's reply (or its part) is counted."""

    usage: Usage


@dataclass(frozen=True)
class Looped:
    """The reply was stopped for repeating itself (``model`` wrote it)."""

    model: str


@dataclass(frozen=True)
class Unsaved:
    """The reply could not be stored: it is shown and used as context, not kept."""

    problem: str


Step = (
    Saved
    | Renamed
    | Recalled
    | chat.Folding
    | chat.Folded
    | chat.NotFolded
    | Started
    | Delta
    | Done
    | Counted
    | Failed
    | Looped
    | Unsaved
)
Report = Callable[[Step], None]


@dataclass
class Stop:
    """How a turn is stopped (the worker cancels its task): ``shown`` is the characters of
    the reply the user saw (-1: keep all that arrived). ``whole``: the id of the whole reply
    once it is told as ``Done`` (then it is too late to stop; ``cut_shown`` cuts it)."""

    shown: int = -1
    whole: str = ""


@dataclass(frozen=True)
class Answered:
    """A whole reply to ``user``; ``learn``: memory is on, ``name``: it is the session's
    first exchange, to name it by."""

    user: ChatMessage
    reply: ChatMessage
    learn: bool
    name: bool


@dataclass
class Totals:
    """The session's tokens so far: prompt and completion."""

    prompt: int = 0
    completion: int = 0


# ---------------------------------------------------------------- the service


@dataclass
class ChatService:
    """The chat's current state and the turn on it. ``opened`` is the profile the worker
    opened; ``window`` the look-up of the server's window a reply waits for."""

    line: Line
    clock: Callable[[], float] = time.time
    settings: Settings = field(default_factory=Settings)
    opened: OpenProfile | None = None
    session: SessionInfo | None = None
    history: list[ChatMessage] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    model: ModelInfo | None = None
    counter: ServerCounter | None = None
    llm: LLM | None = None
    system: str = ""
    prompts: dict[str, str] = field(default_factory=dict)
    recalled: str = ""  # memory text of the latest request: the next one is about as big
    recalled_ids: set[str] = field(default_factory=set)  # the memories in it
    window: asyncio.Task | None = None

    # ------------------------------------------------------------ state

    def configure(self, settings: Settings, models_file: Path, prompts_dir: Path) -> LLM | None:
        """Ask with these settings from now on; the client made for the old ones, if any, is
        returned for the caller to close (the new one is made on first use)."""
        self.settings = settings
        self.line.width = settings.effective_concurrency
        self.model = ModelTable(settings, models_file).lookup(settings.effective_model)
        model, counter = self.model.name, self.counter
        if counter is None or (counter.model, counter.base_url) != (model, settings.base_url):
            self.counter = ServerCounter(model, settings.base_url, not settings.is_openai)
        self.system = load_prompt("system", prompts_dir)
        self.prompts = {name: load_prompt(name, prompts_dir) for name in PROMPTS}
        old, self.llm = self.llm, None
        return old

    def client(self) -> LLM:
        if self.llm is None:
            from chatmem.llm.client import LLM  # openai is slow to import: not before it is needed

            self.llm = LLM(self.settings)
        return self.llm

    def open(self, session: SessionInfo) -> list[ChatMessage]:
        """Make ``session`` current; its messages."""
        self.session = session
        self.history = self._store().messages(session.id)
        self.totals = Totals(
            sum(m.prompt_tokens for m in self.history),
            sum(m.completion_tokens for m in self.history),
        )
        return self.history

    def switched(self, opened: OpenProfile) -> None:
        """Another profile is open: nothing recalled from it yet."""
        self.opened = opened
        self.recalled, self.recalled_ids = "", set()

    def renamed(self, info: SessionInfo) -> None:
        if self.session is not None and info.id == self.session.id:
            self.session = info

    def usage(self, last: tuple[int, int] = (0, 0)) -> Usage:
        """The sidebar's figures (``last``: the latest exchange's prompt and completion)."""
        summary, folded = ("", 0)
        if self.opened is not None and self.session is not None:
            summary, folded = self._store().summary(self.session.id)
        context = Context(self.system, summary, folded, self.history, self.recalled)
        totals = (self.totals.prompt, self.totals.completion)
        return usage_of(
            context, self._model(), self._counter(), totals, last, self.settings.configured
        )

    def fitting(self) -> tuple[ServerCounter, int]:
        """What background requests are fitted with: the counter and the window."""
        return self._counter(), self._model().context_window

    def learnt_window(self, model: ModelInfo, window: int | None) -> bool:
        """The server runs ``model`` with this window: taken if the model is still the one
        asked (the settings did not change meanwhile)."""
        if not window or self.model is not model:
            return False
        output = min(model.max_output_tokens, window // 4)
        self.model = replace(model, context_window=window, max_output_tokens=output, assumed=False)
        return True

    # ------------------------------------------------------------ the turn

    def message(self, text: str) -> ChatMessage:
        """The user's message to send; ``NotSent`` if it cannot fit in any request."""
        text = clean_text(text)
        message = ChatMessage(
            id=new_message_id(),
            role="user",
            content=text,
            created=self.clock(),
            tokens=self._counter().count_message(text),
        )
        model = self._model()
        budget = model.context_window - model.max_output_tokens
        if message.tokens + self._counter().count_message(self.system) > budget:
            raise NotSent(failures.too_long(message.tokens, model.name, budget))
        return message

    async def send(self, message: ChatMessage, report: Report, stop: Stop) -> Answered | None:
        """Store ``message`` (``NotSent`` if it cannot be) and answer it."""
        opened, session = self._opened(), self._session()
        try:
            opened.profile.sessions.append(session.id, message)  # saved before it is sent
        except (OSError, StoreError) as exc:
            raise NotSent(failures.unsaved(storage_problem(exc, opened.readonly))) from exc
        opened.memory.add_turn(session.id, message)
        self.history.append(message)
        report(Saved(message))
        if not session.title:
            info = opened.sessions.rename(session.id, fallback_title(message.content))
            self.renamed(info)
            report(Renamed(info))
        return await self._reply(message, report, stop)

    async def resend(self, message_id: str, report: Report, stop: Stop) -> Answered | None:
        message = next((m for m in self.history if m.id == message_id), None)
        if message is None:
            raise NotFound("That message is no longer in this session.")
        return await self._reply(message, report, stop)

    def keep_cut(self, user_id: str, text: str, report: Report) -> None:
        """The worker before this one died answering ``user_id``: keep the ``text`` the UI
        showed, unless the message was answered meanwhile."""
        user = next((m for m in self.history if m.id == user_id), None)
        if user is None or self.history[-1] is not user:  # not the last: it was answered
            return
        partial = None
        if text:
            ending = Ending(user, new_message_id(), (text,), None, 0, "cut")
            partial = self._finish(ending, report, done=False)
            report(Saved(partial))
        self._fail(user, failures.worker_stopped(bool(text)), partial, report)

    def cut_shown(self, reply_id: str, shown: int) -> Usage | None:
        """A reply stopped after it was whole (the UI was still drawing it): the first
        ``shown`` characters are kept, as of a reply stopped then, if it is still the last
        message and longer; the usage then."""
        reply = self.history[-1] if self.history else None
        if reply is None or reply.id != reply_id or len(reply.content) <= shown:
            return None
        text = reply.content[:shown]
        counter = self._counter()
        cut = replace(
            reply,
            content=text,
            status="cut",
            tokens=counter.count_message(text),
            completion_tokens=counter.count(text),
        )
        opened = self._opened()
        opened.profile.sessions.update(self._session().id, cut)
        opened.memory.replace_turn(cut)
        self.history[-1] = cut
        self.totals.completion += cut.completion_tokens - reply.completion_tokens
        return self.usage((cut.prompt_tokens, cut.completion_tokens))

    async def _reply(self, user: ChatMessage, report: Report, stop: Stop) -> Answered | None:
        """Stream the answer to ``user``; on failure mark it failed and say why."""
        if not self.settings.configured:
            if self.settings.is_openai and self.settings.effective_model:
                error = errors.no_key(self.settings.base_url)
            else:
                error = errors.no_model(self.settings.config_path)
            self._fail(user, error, None, report)
            return None
        if self.window is not None:  # the server's window, learnt before the first request
            await asyncio.gather(self.window, return_exceptions=True)
        async with self.line.reply():  # background requests make way
            try:
                fitted = await self._prepare(user, report)
            except asyncio.CancelledError:  # stopped while recalling or summarizing
                self._fail(user, failures.stopped(), None, report)
                raise
            if fitted is None:
                return None
            return await self._answer(user, fitted, report, stop)

    async def _prepare(self, user: ChatMessage, report: Report) -> Fitted | None:
        """Recall, fold and fit the request answering ``user`` (None: it cannot be sent)."""
        session, model = self._session(), self._model()
        history = self.history[: self.history.index(user) + 1]
        recalled = await self._opened().memory.build(
            self.client(),
            user.content,
            self._counter(),
            min(self.settings.memory_budget, model.context_window // 4),
            session.id,
        )
        report(recalled)
        self.recalled = recalled.text
        self.recalled_ids = {item.id for item in recalled.items if item.kind != "message"}
        summary, folded = await self._fold(history, model, report)
        system = with_summary(self.system, summary)
        memory = with_memory("", self.recalled) if self.recalled else ""
        await self._counter().learn(self.client(), (system, memory, user.content))
        try:
            return fit(
                system,
                history[folded:],
                self._counter(),
                model.context_window,
                model.max_output_tokens,
                self.recalled,
            )
        except TooLarge as exc:
            self._fail(user, failures.too_large(exc.tokens, model.name, exc.budget), None, report)
            return None

    async def _answer(
        self, user: ChatMessage, fitted: Fitted, report: Report, stop: Stop
    ) -> Answered | None:
        """Stream the reply to the fitted request; keep what arrived, whatever happens."""
        model = self._model()
        reply_id = new_message_id()
        report(Started(reply_id))
        parts: list[str] = []
        pending: list[str] = []
        last_flush = time.monotonic()
        finish = None
        watch = LoopWatch()
        try:
            limit = None if self.settings.is_openai else model.max_output_tokens  # n_ctx bound
            replying = self.client().stream(fitted.messages, model.name, limit)
            async for item in replying:
                if isinstance(item, str):
                    parts.append(item)
                    pending.append(item)
                    now = time.monotonic()
                    if now - last_flush >= FLUSH_EVERY:
                        report(Delta(reply_id, "".join(pending)))
                        pending.clear()
                        last_flush = now
                    if watch.add(item):
                        await replying.aclose()  # hung up: the server stops writing it
                        break
                else:
                    finish = item
        except asyncio.CancelledError:
            if stop.shown >= 0:  # what the user saw, no more
                parts = ["".join(parts)[: stop.shown]]
            else:
                _flush(reply_id, pending, report)
            cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
            self._finish(cut, report, done=True)  # stopped by the user: kept as it is
            raise
        except Exception as exc:
            log.warning("reply failed: %s", type(exc).__name__, exc_info=exc)
            _flush(reply_id, pending, report)
            info = errors.describe(
                exc, self.settings.base_url, model.name, self.settings.request_timeout
            )
            window = window_in_error(str(exc))
            if window is not None:
                info = self._past_window(fitted, window)
            partial = None
            if parts:
                cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
                partial = self._finish(cut, report, done=False)
            if parts and info.kind == "connection":
                info = failures.cut_off(self.settings.base_url, model.name, "broke")
            self._fail(user, info, partial, report)
            return None
        _flush(reply_id, pending, report)
        if watch.looping:  # kept as it came, marked cut, and said why
            cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
            self._finish(cut, report, done=True)
            report(Looped(model.name))
            return None
        whole = finish is not None and finish.reason not in (None, "length")
        ending = Ending(
            user, reply_id, tuple(parts), finish, fitted.prompt_tokens, "ok" if whole else "cut"
        )
        if finish is not None and finish.reason == "length":
            partial = self._finish(ending, report, done=False)
            error = failures.length_limit(model.name, model.max_output_tokens)
            self._fail(user, error, partial if parts else None, report)
            return None
        if whole:
            assert finish is not None
            if finish.prompt_tokens:
                self._counter().calibrate(fitted.messages, finish.prompt_tokens)
            reply = self._finish(ending, report, done=True)
            stop.whole = reply.id
            await self._counter().learn(self.client(), (reply.content,))  # next turn's history
            first = sum(m.role == "assistant" for m in self.history) == 1
            return Answered(user, reply, bool(self.settings.memory_budget), first)
        partial = self._finish(ending, report, done=False)
        error = failures.cut_off(self.settings.base_url, model.name, "ended")
        if not parts:  # nothing at all: what a server may say to a prompt past its window
            window = await self._window_refusing(fitted)
            error = (
                self._past_window(fitted, window)
                if window
                else failures.no_reply(self.settings.base_url, model.name, model.context_window)
            )
        self._fail(user, error, partial if parts else None, report)
        return None

    async def _window_refusing(self, fitted: Fitted) -> int:
        """The window a server names when asked again, not streamed, for one token (it
        checks the size before any work; llama-cpp-python streams nothing instead); 0 if none."""
        try:
            await self.client().once.chat.completions.create(
                model=self._model().name,
                messages=cast(Any, fitted.messages),  # plain role/content dicts
                max_tokens=1,
                stream=False,
            )
        except Exception as exc:
            return window_in_error(str(exc)) or 0
        return 0

    def _past_window(self, fitted: Fitted, window: int) -> ErrorInfo:
        """A request the server found too long (or answered with nothing): its window named,
        and learnt when it says it, so a resend is fitted to it."""
        model, where = self._model(), f"{self.settings.base_url} (model {self._model().name})"
        said = f"has a {window:,}-token window" if window else "sent back an empty answer"
        if window and not self.settings.context_window and window < model.context_window:
            self.model = replace(
                model,
                context_window=window,
                max_output_tokens=min(model.max_output_tokens, window // 4),
                assumed=False,
            )
        return failures.past_window(
            where, said, fitted.prompt_tokens, model.max_output_tokens, model.context_window
        )

    async def _fold(
        self, history: list[ChatMessage], model: ModelInfo, report: Report
    ) -> tuple[str, int]:
        """The session's summary and how many messages it stands for, after folding what
        the request needs folded (``chat.fold``); each step is told."""
        store, session = self._store(), self._session()
        summary, folded = store.summary(session.id)
        context = Context(
            self.system, summary, min(folded, len(history) - 1), history, self.recalled
        )
        limits = Thresholds(self.settings.fold_at_tokens or 10**9, self.settings.fold_at_messages)
        folding = chat.fold(
            self.client(),
            model,
            self.prompts["fold"],
            context,
            self._counter(),
            limits,
            store,
            session.id,
        )
        summary, folded = context.summary, context.folded
        async for step in folding:
            if isinstance(step, chat.Folded):
                summary, folded = step.summary, step.folded
            report(step)
        return summary, folded

    def _finish(self, ending: Ending, report: Report, *, done: bool) -> ChatMessage:
        """Store the reply (whole or cut off) and update the totals. ``done``: it is told as
        ``Done`` (a whole reply, or one the user stopped); otherwise the caller follows with
        the ``Failed`` that shows the part kept."""
        opened, session = self._opened(), self._session()
        user = ending.user
        reply = reply_of(ending, self._counter(), self.clock())
        prompt, completion = reply.prompt_tokens, reply.completion_tokens
        if reply.content:
            try:
                opened.profile.sessions.append(session.id, reply)
            except (OSError, StoreError) as exc:  # shown and used as context, not stored
                log.warning("store write failed: %s", exc)
                report(Unsaved(storage_problem(exc, opened.readonly)))
            else:
                opened.memory.add_turn(session.id, reply)
            self.history.append(reply)
        if user.status == "failed":
            self._set_status(user, "ok")
        self.totals.prompt += prompt
        self.totals.completion += completion
        if done:
            report(Done(reply))
        report(Counted(self.usage((prompt, completion))))
        return reply

    def _fail(
        self, user: ChatMessage, error: ErrorInfo, partial: ChatMessage | None, report: Report
    ) -> None:
        if user.status != "failed" and partial is None:
            self._set_status(user, "failed")
        report(Failed(user.id, error, partial))

    def _set_status(self, message: ChatMessage, status: str) -> None:
        updated = replace(message, status=status)
        self.history[self.history.index(message)] = updated
        try:
            self._store().update(self._session().id, updated)
        except (OSError, StoreError) as exc:  # the status is kept in memory only
            log.warning("status of %s not stored: %s", message.id, exc)

    # ------------------------------------------------------------ after the reply

    async def extract(self, answered: Answered) -> list[Changed]:
        """What the exchange taught: the memories changed."""
        return await self._opened().memory.extract(
            self.client(),
            self._model().name,
            self.prompts["extract"],
            (answered.user, answered.reply),
            self._session().id,
            self.fitting(),
        )

    async def title(self, answered: Answered) -> SessionInfo | None:
        """Name the session after its first exchange (the fallback stays if the model
        fails, or the user renamed it meanwhile); the session renamed."""
        session, user = self._session(), answered.user
        title = await title_for(
            self.client(),
            self._model().name,
            self.prompts["title"],
            (user, answered.reply),
            self._counter(),
        )
        opened = self.opened
        stored = opened.profile.sessions.get(session.id) if opened is not None else None
        if not title or stored is None or stored.title != fallback_title(user.content):
            return None
        assert opened is not None
        info = opened.sessions.rename(session.id, title)
        self.renamed(info)
        return info

    # ------------------------------------------------------------ parts

    def _opened(self) -> OpenProfile:
        assert self.opened is not None
        return self.opened

    def _store(self) -> SessionStore:
        return self._opened().profile.sessions

    def _session(self) -> SessionInfo:
        assert self.session is not None
        return self.session

    def _model(self) -> ModelInfo:
        assert self.model is not None
        return self.model

    def _counter(self) -> ServerCounter:
        assert self.counter is not None
        return self.counter


def _flush(reply_id: str, pending: list[str], report: Report) -> None:
    if pending:
        report(Delta(reply_id, "".join(pending)))
        pending.clear()
