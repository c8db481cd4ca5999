"""The chat turn: a message stored, memory recalled, old turns folded, the request fitted,
the reply streamed and kept whatever happens — on the chat service's session and model.

A turn tells how it goes through ``report`` (the worker makes each step its event;
``chatmem ask`` prints them) and returns the whole reply's exchange for the work that follows
it (extraction, the session's title); a message refused before it is stored raises
``NotSent``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from chatmem.domain.context import Fitted, Thresholds, TooLarge, fit, with_memory, with_summary
from chatmem.domain.errors import ErrorInfo
from chatmem.domain.recall import Recalled
from chatmem.domain.sessions import ChatMessage, SessionInfo
from chatmem.domain.tokens import clean_text
from chatmem.domain.usage import Usage
from chatmem.llm import errors
from chatmem.llm.models import ModelInfo, window_in_error
from chatmem.llm.runaway import LoopWatch
from chatmem.services import failures
from chatmem.services.chat import (
    ChatService,
    Context,
    Ending,
    Folded,
    Folding,
    NotFolded,
    fold,
    new_message_id,
    reply_of,
)
from chatmem.services.errors import NotFound, NotSent
from chatmem.services.profiles import storage_problem
from chatmem.services.sessions import fallback_title
from chatmem.store.atomic import StoreError

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.03  # seconds between Delta steps: the UI renders batches, not tokens


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
    | Folding
    | Folded
    | NotFolded
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


class Turn:
    """One exchange on ``chat``'s session: its steps told to ``report``; ``stop`` says how
    much of the reply to keep if the task running it is cancelled."""

    def __init__(self, chat: ChatService, report: Report, stop: Stop | None = None) -> None:
        self.chat = chat
        self.report = report
        self.stop = stop if stop is not None else Stop()

    def message(self, text: str) -> ChatMessage:
        """The user's message to send; ``NotSent`` if it cannot fit in any request."""
        text = clean_text(text)
        message = ChatMessage(
            id=new_message_id(),
            role="user",
            content=text,
            created=self.chat.clock(),
            tokens=self.chat.token_counter().count_message(text),
        )
        model = self.chat.model_info()
        budget = model.context_window - model.max_output_tokens
        if message.tokens + self.chat.token_counter().count_message(self.chat.system) > budget:
            raise NotSent(failures.too_long(message.tokens, model.name, budget))
        return message

    async def send(self, message: ChatMessage) -> Answered | None:
        """Store ``message`` (``NotSent`` if it cannot be) and answer it."""
        opened, session = self.chat.profile(), self.chat.current()
        try:
            opened.profile.sessions.append(session.id, message)  # saved before it is sent
        except (OSError, StoreError) as exc:
            raise NotSent(failures.unsaved(storage_problem(exc, opened.readonly))) from exc
        opened.memory.add_turn(session.id, message)
        self.chat.history.append(message)
        self.report(Saved(message))
        if not session.title:
            info = opened.sessions.rename(session.id, fallback_title(message.content))
            self.chat.renamed(info)
            self.report(Renamed(info))
        return await self._reply(message)

    async def resend(self, message_id: str) -> Answered | None:
        message = next((m for m in self.chat.history if m.id == message_id), None)
        if message is None:
            raise NotFound("That message is no longer in this session.")
        return await self._reply(message)

    def keep_cut(self, user_id: str, text: str) -> None:
        """The worker before this one died answering ``user_id``: keep the ``text`` the UI
        showed, unless the message was answered meanwhile."""
        user = next((m for m in self.chat.history if m.id == user_id), None)
        if user is None or self.chat.history[-1] is not user:  # not the last: it was answered
            return
        partial = None
        if text:
            ending = Ending(user, new_message_id(), (text,), None, 0, "cut")
            partial = self._finish(ending, done=False)
            self.report(Saved(partial))
        self._fail(user, failures.worker_stopped(bool(text)), partial)

    async def _reply(self, user: ChatMessage) -> Answered | None:
        """Stream the answer to ``user``; on failure mark it failed and say why."""
        if not self.chat.settings.configured:
            if self.chat.settings.is_openai and self.chat.settings.effective_model:
                error = errors.no_key(self.chat.settings.base_url)
            else:
                error = errors.no_model(self.chat.settings.config_path)
            self._fail(user, error, None)
            return None
        if self.chat.window is not None:  # the server's window, learnt before the first request
            await asyncio.gather(self.chat.window, return_exceptions=True)
        async with self.chat.line.reply():  # background requests make way
            try:
                fitted = await self._prepare(user)
            except asyncio.CancelledError:  # stopped while recalling or summarizing
                self._fail(user, failures.stopped(), None)
                raise
            if fitted is None:
                return None
            return await self._answer(user, fitted)

    async def _prepare(self, user: ChatMessage) -> Fitted | None:
        """Recall, fold and fit the request answering ``user`` (None: it cannot be sent)."""
        session, model = self.chat.current(), self.chat.model_info()
        history = self.chat.history[: self.chat.history.index(user) + 1]
        recalled = await self.chat.profile().memory.build(
            self.chat.client(),
            user.content,
            self.chat.token_counter(),
            min(self.chat.settings.memory_budget, model.context_window // 4),
            session.id,
        )
        self.report(recalled)
        self.chat.recalled = recalled.text
        self.chat.recalled_ids = {item.id for item in recalled.items if item.kind != "message"}
        summary, folded = await self._fold(history, model)
        system = with_summary(self.chat.system, summary)
        memory = with_memory("", self.chat.recalled) if self.chat.recalled else ""
        await self.chat.token_counter().learn(self.chat.client(), (system, memory, user.content))
        try:
            return fit(
                system,
                history[folded:],
                self.chat.token_counter(),
                model.context_window,
                model.max_output_tokens,
                self.chat.recalled,
            )
        except TooLarge as exc:
            self._fail(user, failures.too_large(exc.tokens, model.name, exc.budget), None)
            return None

    async def _answer(self, user: ChatMessage, fitted: Fitted) -> Answered | None:
        """Stream the reply to the fitted request; keep what arrived, whatever happens."""
        model = self.chat.model_info()
        reply_id = new_message_id()
        self.report(Started(reply_id))
        parts: list[str] = []
        pending: list[str] = []
        last_flush = time.monotonic()
        finish = None
        watch = LoopWatch()
        try:
            limit = None if self.chat.settings.is_openai else model.max_output_tokens  # n_ctx bound
            replying = self.chat.client().stream(fitted.messages, model.name, limit)
            async for item in replying:
                if isinstance(item, str):
                    parts.append(item)
                    pending.append(item)
                    now = time.monotonic()
                    if now - last_flush >= FLUSH_EVERY:
                        self.report(Delta(reply_id, "".join(pending)))
                        pending.clear()
                        last_flush = now
                    if watch.add(item):
                        await replying.aclose()  # hung up: the server stops writing it
                        break
                else:
                    finish = item
        except asyncio.CancelledError:
            if self.stop.shown >= 0:  # what the user saw, no more
                parts = ["".join(parts)[: self.stop.shown]]
            else:
                _flush(reply_id, pending, self.report)
            cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
            self._finish(cut, done=True)  # stopped by the user: kept as it is
            raise
        except Exception as exc:
            log.warning("reply failed: %s", type(exc).__name__, exc_info=exc)
            _flush(reply_id, pending, self.report)
            info = errors.describe(
                exc, self.chat.settings.base_url, model.name, self.chat.settings.request_timeout
            )
            window = window_in_error(str(exc))
            if window is not None:
                info = self._past_window(fitted, window)
            partial = None
            if parts:
                cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
                partial = self._finish(cut, done=False)
            if parts and info.kind == "connection":
                info = failures.cut_off(self.chat.settings.base_url, model.name, "broke")
            self._fail(user, info, partial)
            return None
        _flush(reply_id, pending, self.report)
        if watch.looping:  # kept as it came, marked cut, and said why
            cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
            self._finish(cut, done=True)
            self.report(Looped(model.name))
            return None
        whole = finish is not None and finish.reason not in (None, "length")
        ending = Ending(
            user, reply_id, tuple(parts), finish, fitted.prompt_tokens, "ok" if whole else "cut"
        )
        if finish is not None and finish.reason == "length":
            partial = self._finish(ending, done=False)
            error = failures.length_limit(model.name, model.max_output_tokens)
            self._fail(user, error, partial if parts else None)
            return None
        if whole:
            assert finish is not None
            if finish.prompt_tokens:
                self.chat.token_counter().calibrate(fitted.messages, finish.prompt_tokens)
            reply = self._finish(ending, done=True)
            self.stop.whole = reply.id
            await self.chat.token_counter().learn(
                self.chat.client(), (reply.content,)
            )  # next turn's history
            first = sum(m.role == "assistant" for m in self.chat.history) == 1
            return Answered(user, reply, bool(self.chat.settings.memory_budget), first)
        partial = self._finish(ending, done=False)
        error = failures.cut_off(self.chat.settings.base_url, model.name, "ended")
        if not parts:  # nothing at all: what a server may say to a prompt past its window
            window = await self._window_refusing(fitted)
            error = (
                self._past_window(fitted, window)
                if window
                else failures.no_reply(
                    self.chat.settings.base_url, model.name, model.context_window
                )
            )
        self._fail(user, error, partial if parts else None)
        return None

    async def _window_refusing(self, fitted: Fitted) -> int:
        """The window a server names when asked again, not streamed, for one token (it
        checks the size before any work; llama-cpp-python streams nothing instead); 0 if none."""
        try:
            await self.chat.client().once.chat.completions.create(
                model=self.chat.model_info().name,
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
        model, where = (
            self.chat.model_info(),
            f"{self.chat.settings.base_url} (model {self.chat.model_info().name})",
        )
        said = f"has a {window:,}-token window" if window else "sent back an empty answer"
        if window and not self.chat.settings.context_window and window < model.context_window:
            self.chat.model = replace(
                model,
                context_window=window,
                max_output_tokens=min(model.max_output_tokens, window // 4),
                assumed=False,
            )
        return failures.past_window(
            where, said, fitted.prompt_tokens, model.max_output_tokens, model.context_window
        )

    async def _fold(
        self,
        history: list[ChatMessage],
        model: ModelInfo,
    ) -> tuple[str, int]:
        """The session's summary and how many messages it stands for, after folding what
        the request needs folded (``chat.fold``); each step is told."""
        store, session = self.chat.store(), self.chat.current()
        summary, folded = store.summary(session.id)
        context = Context(
            self.chat.system, summary, min(folded, len(history) - 1), history, self.chat.recalled
        )
        limits = Thresholds(
            self.chat.settings.fold_at_tokens or 10**9, self.chat.settings.fold_at_messages
        )
        folding = fold(
            self.chat.client(),
            model,
            self.chat.prompts["fold"],
            context,
            self.chat.token_counter(),
            limits,
            store,
            session.id,
        )
        summary, folded = context.summary, context.folded
        async for step in folding:
            if isinstance(step, Folded):
                summary, folded = step.summary, step.folded
            self.report(step)
        return summary, folded

    def _finish(self, ending: Ending, *, done: bool) -> ChatMessage:
        """Store the reply (whole or cut off) and update the totals. ``done``: it is told as
        ``Done`` (a whole reply, or one the user stopped); otherwise the caller follows with
        the ``Failed`` that shows the part kept."""
        opened, session = self.chat.profile(), self.chat.current()
        user = ending.user
        reply = reply_of(ending, self.chat.token_counter(), self.chat.clock())
        prompt, completion = reply.prompt_tokens, reply.completion_tokens
        if reply.content:
            try:
                opened.profile.sessions.append(session.id, reply)
            except (OSError, StoreError) as exc:  # shown and used as context, not stored
                log.warning("store write failed: %s", exc)
                self.report(Unsaved(storage_problem(exc, opened.readonly)))
            else:
                opened.memory.add_turn(session.id, reply)
            self.chat.history.append(reply)
        if user.status == "failed":
            self._set_status(user, "ok")
        self.chat.totals.prompt += prompt
        self.chat.totals.completion += completion
        if done:
            self.report(Done(reply))
        self.report(Counted(self.chat.usage((prompt, completion))))
        return reply

    def _fail(
        self,
        user: ChatMessage,
        error: ErrorInfo,
        partial: ChatMessage | None,
    ) -> None:
        if user.status != "failed" and partial is None:
            self._set_status(user, "failed")
        self.report(Failed(user.id, error, partial))

    def _set_status(self, message: ChatMessage, status: str) -> None:
        updated = replace(message, status=status)
        self.chat.history[self.chat.history.index(message)] = updated
        try:
            self.chat.store().update(self.chat.current().id, updated)
        except (OSError, StoreError) as exc:  # the status is kept in memory only
            log.warning("status of %s not stored: %s", message.id, exc)


def _flush(reply_id: str, pending: list[str], report: Report) -> None:
    if pending:
        report(Delta(reply_id, "".join(pending)))
        pending.clear()
