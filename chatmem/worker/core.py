"""The worker's logic: owns the store, the LLM client and token counting.

Runs in the worker process (``chatmem.worker.process``) or in-process for tests and the
headless CLI. It speaks only ``chatmem.protocol``: ``handle`` takes requests, ``emit``
sends events.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from chatmem import protocol as p
from chatmem.config import Settings, save_settings
from chatmem.domain.context import (
    Fitted,
    Thresholds,
    TooLarge,
    fit,
    with_memory,
    with_summary,
)
from chatmem.domain.tokens import clean_text
from chatmem.llm import errors
from chatmem.llm.models import ModelInfo, ModelTable, served_window, window_in_error
from chatmem.llm.runaway import LoopWatch, stopped_looping
from chatmem.llm.tokenize import ServerCounter
from chatmem.logs import register_secret
from chatmem.paths import resolve_paths
from chatmem.prompts import load_prompt
from chatmem.services import chat, profiles
from chatmem.services.chat import Context, Ending, reply_of, title_for, usage_of
from chatmem.services.errors import NotFound, ServiceError
from chatmem.services.line import Line
from chatmem.services.memories import Changed, MemoryService
from chatmem.services.sessions import SessionService, fallback_title
from chatmem.store.atomic import StoreError, disk_problem
from chatmem.store.profile import Profile, ReadOnly
from chatmem.worker import answers, requests

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

RECENT = 30  # messages sent to the UI when a session opens (or from the message it opens at)
FLUSH_EVERY = 0.03  # seconds between ReplyDelta events: the UI renders batches, not tokens
PROBE_TIMEOUT = 1.5
JOURNAL_AT_QUIT = 1.0  # seconds quitting may wait for the journal entry; else at next start


def _log_failure(task: asyncio.Task, what: str = "the embedder") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", what, exc_info=task.exception())


def new_message_id() -> str:
    return uuid.uuid4().hex[:12]


class Worker:
    def __init__(self, emit: Callable[[p.Event], None], clock: Callable[[], float] = time.time):
        self.emit = emit
        self.clock = clock
        self.settings = Settings()
        self.opened: profiles.OpenProfile | None = None  # the profile and its services
        self.session: p.SessionInfo | None = None
        self.history: list[p.ChatMessage] = []
        self.llm: LLM | None = None
        self.model: ModelInfo | None = None
        self.counter: ServerCounter | None = None
        self.requests: dict[str, asyncio.Task] = {}  # the work of a request, for Cancel
        self.shown: dict[str, int] = {}  # a stopped reply's characters the user saw, by request
        self.answered: tuple[str, str] = ("", "")  # the last whole reply: request id, reply id
        self.search: asyncio.Task | None = None  # the transcript search running or waiting
        self.tasks: set[asyncio.Task] = set()  # every task: requests' and background work
        self.embedder: asyncio.Task | None = None  # lives as long as the settings it was made for
        self.session_prompt = 0
        self.session_completion = 0
        self._system = ""
        self._recalled = ""  # memory text of the latest request: the next one is about as big
        self.recalled_ids: set[str] = set()  # the memories in it (the browser's "recalled")
        self._prompts: dict[str, str] = {}
        self._turn = asyncio.Lock()  # one exchange at a time, in the order they were asked
        self.line = Line(1)  # the requests toward the model server: the reply first
        self.window: asyncio.Task | None = None  # learning the server's context window

    @property
    def profile(self) -> Profile | None:
        return self.opened.profile if self.opened is not None else None

    @property
    def memory(self) -> MemoryService | None:
        return self.opened.memory if self.opened is not None else None

    @property
    def sessions(self) -> SessionService | None:
        return self.opened.sessions if self.opened is not None else None

    @property
    def readonly(self) -> str:
        """Why the profile is open read-only ("": writable)."""
        return self.opened.readonly if self.opened is not None else ""

    # ------------------------------------------------------------ dispatch

    async def handle(self, request: p.Request) -> None:
        """Handle one request; long work (replies, network look-ups) continues as a task. A
        store that cannot be written (disk full, read-only, not ours) is reported, not fatal."""
        try:
            await self._dispatch(request)
        except ServiceError as exc:
            self.emit(answers.refusal(exc, request, request.id))
        except (OSError, StoreError) as exc:
            self._not_saved(exc, request.id)

    async def _dispatch(self, request: p.Request) -> None:
        """Run the request's handler (``ROUTES``): now, as a task, or as a task in turn."""
        handler, how = ROUTES[type(request)]
        if how == TASK:
            self._spawn(request.id, handler(self, request), request=True)
        elif how == TURN:
            self._spawn(request.id, self._in_turn(handler(self, request)), request=True)
        elif inspect.isawaitable(done := handler(self, request)):
            await done

    def _cancel(self, request: p.Cancel) -> None:
        task = self.requests.get(request.target)
        if task is not None:
            self.shown[request.target] = request.shown
            task.cancel()
        elif request.shown > 0 and self.answered[0] == request.target:
            self._cut_shown(self.answered[1], request.shown, request.id)
            self.answered = ("", "")

    def _cut_shown(self, reply_id: str, shown: int, request_id: str) -> None:
        """A reply stopped after it was whole (the UI was still drawing it): the first
        ``shown`` characters are kept, as of a reply stopped then, if it is still the last."""
        assert self.profile is not None and self.session is not None
        reply = self.history[-1] if self.history else None
        if reply is None or reply.id != reply_id or len(reply.content) <= shown:
            return
        text = reply.content[:shown]
        counter = self._counter()
        cut = replace(
            reply,
            content=text,
            status="cut",
            tokens=counter.count_message(text),
            completion_tokens=counter.count(text),
        )
        self.profile.sessions.update(self.session.id, cut)
        self.memory_service().replace_turn(cut)
        self.history[-1] = cut
        self.session_completion += cut.completion_tokens - reply.completion_tokens
        self._emit_usage(request_id, cut.prompt_tokens, cut.completion_tokens)

    def _load_newer(self, request: p.LoadNewer) -> None:
        at = next((i for i, m in enumerate(self.history) if m.id == request.after_id), 0)
        newer = self.history[at + 1 : at + 1 + request.limit]
        more = at + 1 + len(newer) < len(self.history)
        self.emit(p.NewerMessages(tuple(newer), more, request.id))

    def _search_latest(self, request: p.SearchSessions) -> None:
        """A newer query read meanwhile replaces a waiting one."""
        if self.search is not None:
            self.search.cancel()
        self.search = self._spawn(request.id, requests.search_sessions(self, request))

    async def _shutdown(self, request: p.Shutdown) -> None:
        await self._journal_at_quit()
        await self.close()

    async def _in_turn(self, coro) -> None:
        try:
            async with self._turn:
                await coro
        finally:
            coro.close()  # a no-op once it ran; quiet if it was cancelled while queued

    def tell(self, done: list[Changed], request_id: str) -> None:
        for event in answers.changed(done, request_id):
            self.emit(event)

    def list_sessions(self, request_id: str) -> None:
        listing = self.session_service().list()
        current = self.session_id()
        self.emit(
            p.SessionList(listing.rows, current, listing.profile, listing.profiles, request_id)
        )

    def rename(self, session_id: str, title: str, request_id: str) -> None:
        info = self.session_service().rename(session_id, title)
        self.emit(p.SessionUpdated(info, request_id))
        if info.id == self.session_id():
            self.session = info

    def _spawn(self, request_id: str, coro, *, request: bool = False) -> asyncio.Task:
        """Run ``coro`` as a task whose failure is told as an answer to ``request_id``.
        ``request``: the task is that request's own work, which ``Cancel`` can stop (else it
        is background work the request started: extraction, a title, a journal entry)."""
        task = asyncio.create_task(coro)
        if request:
            self.requests[request_id] = task
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if self.requests.get(request_id) is t:
                del self.requests[request_id]
                self.shown.pop(request_id, None)
            failure = None if t.cancelled() else t.exception()
            if isinstance(failure, ServiceError):
                self.emit(answers.refusal(failure, None, request_id))
            elif isinstance(failure, OSError | StoreError):  # told, not only logged
                self._not_saved(failure, request_id)
            else:
                _log_failure(t, f"request {request_id}")

        task.add_done_callback(done)
        return task

    def _not_saved(self, exc: OSError | StoreError, request_id: str) -> None:
        log.warning("store write failed: %s", exc)
        self.emit(p.Notice("error", self._storage_problem(exc), request_id))

    def _storage_problem(self, exc: OSError | StoreError) -> str:
        if isinstance(exc, ReadOnly) and self.readonly:
            return f"Nothing can be saved: {self.readonly}"
        if isinstance(exc, OSError):
            return f"Could not save: {disk_problem(exc)}."
        return str(exc)

    async def settle(self) -> None:
        """Wait until every task a request started is done, the memories are read and every
        memory is embedded."""
        while True:
            if self.memory is not None:
                await self.memory.ready()
            if self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)
            elif self._embedding():
                assert self.memory is not None and self.embedder is not None
                waiting = asyncio.ensure_future(self.memory.caught_up.wait())
                await asyncio.wait({waiting, self.embedder}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
            else:
                return

    async def _close_profile(self) -> None:
        """Stop every task (a reply keeps what arrived) and close the store."""
        current = asyncio.current_task()
        running = [t for t in (*self.tasks, self.embedder) if t is not None and t is not current]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        self.embedder = None
        if self.opened is not None:
            self.opened.close()
            self.opened = None

    def _embedding(self) -> bool:
        running = self.embedder is not None and not self.embedder.done()
        return running and self.memory is not None and not self.memory.caught_up.is_set()

    async def close(self) -> None:
        await self._close_profile()
        if self.llm is not None:
            await self.llm.close()
            self.llm = None

    # ------------------------------------------------------------ start and settings

    async def _start(self, request: p.Start) -> None:
        self._configure(request.settings)
        if self.opened is None:
            self.opened = profiles.open_any(
                self.settings.data_dir, self.settings.profile, self.clock
            )
        self._opened(request.new_session, request.id, request.session_id)
        self._learn_window(request.id)
        if not self.settings.configured:
            self._spawn(request.id, self._probe_local(request.id))

    async def _writable(self, request_id: str) -> bool:
        """A read-only profile tries again to open for writing (the other chatmem closed,
        the folder was fixed); on success the session is shown anew, writable."""
        if not self.readonly:
            return True
        assert self.opened is not None
        try:
            opened = profiles.open_writable(
                self.settings.data_dir, self.settings.profile, self.clock
            )
        except profiles.Unopenable as exc:
            self.opened.readonly = exc.reason
            return False
        session_id = self.session_id()
        await self._close_profile()
        self.opened = opened
        self._opened(False, request_id, session_id)
        return True

    def _opened(self, new_session: bool, request_id: str, session_id: str = "") -> None:
        """The profile is open: say what it noticed, show the session asked for or its
        latest, start the background work."""
        assert self.profile is not None
        # may add a notice (a newer file)
        session = self.session_service().to_show(
            self.clock(), session_id, new_session, bool(self.readonly)
        )
        self._tell_notices(request_id)
        self._open_session(session, request_id)
        self._spawn(request_id + ":memories", self._memories_read(request_id))
        if self.settings.configured and not self.readonly:
            if self.settings.memory_budget:  # 0: memory is off (chatmem ask --no-memory)
                self._spawn(request_id, self._journal_waiting())
            self._embed_memories()

    def _tell_notices(self, request_id: str) -> None:
        assert self.profile is not None
        for notice in self.profile.notices:
            self.emit(p.Notice("warning", notice, request_id))
        self.profile.notices.clear()

    async def _memories_read(self, request_id: str) -> None:
        """The memories are read in a thread while the session opens: what their files had
        wrong is told when that is done."""
        await self.memory_service().ready()
        if self.profile is not None:
            self._tell_notices(request_id)

    async def _switch_profile(self, request: p.SwitchProfile) -> None:
        """Open the other profile first (it may be locked or invalid), then close this one."""
        if self.opened is not None and request.name == self.opened.name:
            return
        opened = profiles.open_writable(self.settings.data_dir, request.name, self.clock)
        await self._close_profile()
        self.opened = opened
        self.settings = replace(self.settings, profile=request.name)
        self._recalled, self.recalled_ids = "", set()
        self._opened(False, request.id)
        self.emit(p.Notice("information", f"Profile {request.name!r} is open.", request.id))

    def _configure(self, settings: Settings) -> None:
        for secret in (settings.api_key, urlsplit(settings.base_url).password):
            if secret:
                register_secret(secret)
        self.settings = settings
        self.line.width = settings.effective_concurrency
        paths = resolve_paths()
        self.model = ModelTable(settings, paths.models_file).lookup(settings.effective_model)
        model, counter = self.model.name, self.counter
        if counter is None or (counter.model, counter.base_url) != (model, settings.base_url):
            self.counter = ServerCounter(model, settings.base_url, not settings.is_openai)
        self._system = load_prompt("system", paths.prompts_dir)
        self._prompts = {
            name: load_prompt(name, paths.prompts_dir)
            for name in ("extract", "summarize", "fold", "title")
        }
        if self.llm is not None:
            self._spawn("", self.llm.close())
        self.llm = None  # built on first use: importing and creating the client is not free

    def _open_session(self, session: p.SessionInfo, request_id: str, focus: str = "") -> None:
        """Make ``session`` current; the UI gets its recent messages, or from ``focus`` on."""
        assert self.profile is not None
        store = self.profile.sessions
        self.session = session
        self.history = store.messages(session.id)
        self.session_prompt = sum(m.prompt_tokens for m in self.history)
        self.session_completion = sum(m.completion_tokens for m in self.history)
        start = max(len(self.history) - RECENT, 0)
        at = next((i for i, m in enumerate(self.history) if m.id == focus), None)
        if at is not None:
            start = min(start, max(at - 2, 0))  # the message and what led to it
        shown = self.history[start : start + RECENT]
        summary, folded = store.summary(session.id)
        self.emit(
            p.SessionLoaded(
                session=session,
                messages=tuple(shown),
                has_older=start > 0,
                configured=self.settings.configured,
                settings=self.settings,
                focus_id=focus if at is not None else "",
                summary=summary,
                summarized=folded,
                has_newer=start + len(shown) < len(self.history),
                readonly=self.readonly,
                request_id=request_id,
            )
        )
        self._emit_usage(request_id)

    async def _switch_session(self, request: p.OpenSession) -> None:
        assert self.profile is not None
        session = self.session_service().get(request.session_id)
        self.profile.sessions.flush()  # the one left gets its journal entry at the next start
        self._open_session(session, request.id, request.message_id)

    def _load_older(self, request: p.LoadOlder) -> None:
        assert self.profile is not None and self.session is not None
        messages, has_older = self.profile.sessions.before(
            self.session.id, request.before_id, request.limit
        )
        self.emit(p.OlderMessages(tuple(messages), has_older, request.id))

    def _save_settings(self, request: p.SaveSettings) -> None:
        values = {k: v for k, v in request.values.items() if k in _SAVABLE}
        try:
            save_settings(Path(self.settings.config_path), values)
        except OSError as exc:
            self.emit(p.Notice("error", f"Could not save settings: {exc}", request.id))
            return
        typed: dict[str, Any] = {
            k: (str(v).rstrip("/") if k == "base_url" else str(v)) for k, v in values.items()
        }
        self._configure(replace(self.settings, **typed))
        self.emit(
            p.SettingsSaved(
                self.settings, self.settings.configured, self.settings.config_path, request.id
            )
        )
        self._emit_usage(request.id)
        self._embed_memories()
        self._learn_window(request.id)

    def _learn_window(self, request_id: str) -> None:
        """Ask a local server the window it really runs the model with (a table or a guess
        knows only what the model could take); the setting, when given, wins."""
        self.window = None
        settings = self.settings
        if settings.configured and not settings.is_openai and not settings.context_window:
            self.window = asyncio.create_task(self._served_window(request_id))
            self.tasks.add(self.window)
            self.window.add_done_callback(self.tasks.discard)

    async def _served_window(self, request_id: str) -> None:
        from chatmem.llm.client import make_client

        settings, model = self.settings, self._model()
        async with make_client(settings, timeout=PROBE_TIMEOUT) as client:
            window = await served_window(client, settings.base_url, model.name)
        if window and self.model is model:
            output = min(model.max_output_tokens, window // 4)
            self.model = replace(
                model, context_window=window, max_output_tokens=output, assumed=False
            )
            self._emit_usage(request_id)

    def _embed_memories(self) -> None:
        """(Re)start the background embedder for the current settings."""
        if self.embedder is not None:
            self.embedder.cancel()
        if self.profile is not None and self.settings.configured:
            model = self.settings.effective_embedding_model
            coro = self.memory_service().keep_embedded(
                self._llm(), self.profile.root, model, self.line
            )
            self.embedder = asyncio.create_task(coro)
            self.embedder.add_done_callback(_log_failure)

    async def _probe_local(self, request_id: str) -> None:
        url = self.settings.ollama_url.rstrip("/") + "/v1"
        try:
            models = await self._llm().list_models(url, timeout=PROBE_TIMEOUT)
        except Exception:
            return
        self.emit(p.LocalServerFound(url, tuple(models), request_id))

    async def _list_models(self, request: p.ListModels) -> None:
        try:
            models = await self._llm().list_models(request.base_url, request.api_key or None)
        except Exception as exc:
            info = errors.describe(exc, request.base_url, "", self.settings.request_timeout)
            self.emit(p.ModelsListed(request.base_url, (), info.message, request.id))
            return
        self.emit(p.ModelsListed(request.base_url, tuple(models), "", request.id))

    def _llm(self) -> LLM:
        if self.llm is None:
            from chatmem.llm.client import LLM  # openai is slow to import: not before it is needed

            self.llm = LLM(self.settings)
        return self.llm

    # ------------------------------------------------------------ chat

    async def _send(self, request: p.SendMessage) -> None:
        assert self.profile is not None and self.session is not None
        text = clean_text(request.text)
        message = p.ChatMessage(
            id=new_message_id(),
            role="user",
            content=text,
            created=self.clock(),
            tokens=self._counter().count_message(text),
        )
        budget = self._model().context_window - self._model().max_output_tokens
        if message.tokens + self._counter().count_message(self._system) > budget:
            error = answers.too_long(message.tokens, self._model().name, budget)
            self.emit(p.ReplyFailed("", error, None, request.id))
            return
        if not await self._writable(request.id):
            self.emit(p.ReplyFailed("", answers.read_only(self.readonly), None, request.id))
            return
        try:
            self.profile.sessions.append(self.session.id, message)  # saved before it is sent
        except (OSError, StoreError) as exc:
            self.emit(
                p.ReplyFailed("", answers.unsaved(self._storage_problem(exc)), None, request.id)
            )
            return
        self.memory_service().add_turn(self.session.id, message)
        self.history.append(message)
        self.emit(p.MessageSaved(message, request.id))
        if not self.session.title:
            self.rename(self.session.id, fallback_title(text), "")
        await self._reply(message, request.id)

    async def _resend(self, request: p.Resend) -> None:
        message = next((m for m in self.history if m.id == request.message_id), None)
        if message is None:
            raise NotFound("That message is no longer in this session.")
        await self._reply(message, request.id)

    async def _keep_cut(self, request: p.KeepCut) -> None:
        """The worker before this one died answering a message: keep what the UI showed."""
        user = next((m for m in self.history if m.id == request.user_message_id), None)
        if user is None or self.history[-1] is not user:  # not the last: it was answered
            return
        partial = None
        if request.text:
            ending = Ending(user, new_message_id(), (request.text,), None, 0, "cut")
            partial = self._finish(ending, request.id, reply_done=False)
            self.emit(p.MessageSaved(partial, request.id))
        self._fail(user, answers.worker_stopped(bool(request.text)), partial, request.id)

    async def _reply(self, user: p.ChatMessage, request_id: str) -> None:
        """Stream the answer to ``user``; on failure mark it failed and say why."""
        assert self.profile is not None and self.session is not None
        if not self.settings.configured:
            if self.settings.is_openai and self.settings.effective_model:
                error = errors.no_key(self.settings.base_url)
            else:
                error = errors.no_model(self.settings.config_path)
            self._fail(user, error, None, request_id)
            return
        if self.window is not None:  # the server's window, learnt before the first request
            await asyncio.gather(self.window, return_exceptions=True)
        async with self.line.reply():  # background requests make way
            await self._recall_and_answer(user, request_id)

    async def _recall_and_answer(self, user: p.ChatMessage, request_id: str) -> None:
        try:
            prepared = await self._prepare(user, request_id)
        except asyncio.CancelledError:  # stopped while recalling or summarizing
            self._fail(user, answers.stopped(), None, request_id)
            raise
        if prepared is not None:
            await self._answer(user, prepared, request_id)

    async def _prepare(self, user: p.ChatMessage, request_id: str) -> Fitted | None:
        """Recall, fold and fit the request answering ``user`` (None: it cannot be sent)."""
        assert self.session is not None
        model = self._model()
        history = self.history[: self.history.index(user) + 1]
        recalled = await self.memory_service().build(
            self._llm(),
            user.content,
            self._counter(),
            min(self.settings.memory_budget, model.context_window // 4),
            self.session.id,
        )
        self.emit(p.RecallUsed(recalled.items, recalled.tokens, recalled.semantic, request_id))
        self._recalled = recalled.text
        self.recalled_ids = {item.id for item in recalled.items if item.kind != "message"}
        summary, folded = await self._fold(self._system, history, model, request_id)
        system = with_summary(self._system, summary)
        memory = with_memory("", self._recalled) if self._recalled else ""
        await self._counter().learn(self._llm(), (system, memory, user.content))
        try:
            fitted = fit(
                system,
                history[folded:],
                self._counter(),
                model.context_window,
                model.max_output_tokens,
                self._recalled,
            )
        except TooLarge as exc:
            self._fail(
                user, answers.too_large(exc.tokens, model.name, exc.budget), None, request_id
            )
            return None
        return fitted

    async def _answer(self, user: p.ChatMessage, fitted: Fitted, request_id: str) -> None:
        """Stream the reply to the fitted request; keep what arrived, whatever happens."""
        model = self._model()
        reply_id = new_message_id()
        self.emit(p.ReplyStarted(reply_id, request_id))
        parts: list[str] = []
        pending: list[str] = []
        last_flush = time.monotonic()
        finish = None
        watch = LoopWatch()
        try:
            limit = None if self.settings.is_openai else model.max_output_tokens  # n_ctx bound
            replying = self._llm().stream(fitted.messages, model.name, limit)
            async for item in replying:
                if isinstance(item, str):
                    parts.append(item)
                    pending.append(item)
                    now = time.monotonic()
                    if now - last_flush >= FLUSH_EVERY:
                        self.emit(p.ReplyDelta(reply_id, "".join(pending), request_id))
                        pending.clear()
                        last_flush = now
                    if watch.add(item):
                        await replying.aclose()  # hung up: the server stops writing it
                        break
                else:
                    finish = item
        except asyncio.CancelledError:
            shown = self.shown.pop(request_id, -1)
            if shown >= 0:  # what the user saw, no more
                parts = ["".join(parts)[:shown]]
            else:
                self._flush(reply_id, pending, request_id)
            cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
            self._finish(cut, request_id, reply_done=True)  # stopped by the user: kept as it is
            raise
        except Exception as exc:
            log.warning("reply failed: %s", type(exc).__name__, exc_info=exc)
            self._flush(reply_id, pending, request_id)
            info = errors.describe(
                exc, self.settings.base_url, model.name, self.settings.request_timeout
            )
            window = window_in_error(str(exc))
            if window is not None:
                info = self._past_window(fitted, window)
            partial = None
            if parts:
                cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
                partial = self._finish(cut, request_id, reply_done=False)
            if parts and info.kind == "connection":
                info = answers.cut_off(self.settings.base_url, model.name, "broke")
            self._fail(user, info, partial, request_id)
            return
        self._flush(reply_id, pending, request_id)
        if watch.looping:  # kept as it came, marked cut, and said why
            cut = Ending(user, reply_id, tuple(parts), None, fitted.prompt_tokens, "cut")
            self._finish(cut, request_id, reply_done=True)
            self.emit(p.Notice("warning", stopped_looping(model.name), request_id))
            return
        whole = finish is not None and finish.reason not in (None, "length")
        ending = Ending(
            user, reply_id, tuple(parts), finish, fitted.prompt_tokens, "ok" if whole else "cut"
        )
        if finish is not None and finish.reason == "length":
            partial = self._finish(ending, request_id, reply_done=False)
            error = answers.length_limit(model.name, model.max_output_tokens)
            self._fail(user, error, partial if parts else None, request_id)
            return
        if whole:
            assert finish is not None
            if finish.prompt_tokens:
                self._counter().calibrate(fitted.messages, finish.prompt_tokens)
            reply = self._finish(ending, request_id, reply_done=True)
            self.answered = (request_id, reply.id)
            await self._counter().learn(self._llm(), (reply.content,))  # next turn's history
            if self.settings.memory_budget:  # 0: memory is off
                job = functools.partial(self._extract, user, reply, request_id)
                self._spawn(request_id, self.line.run("extract", job))
            if sum(m.role == "assistant" for m in self.history) == 1:
                job = functools.partial(self._title, user, reply)
                self._spawn(request_id, self.line.run("title", job))
            return
        partial = self._finish(ending, request_id, reply_done=False)
        error = answers.cut_off(self.settings.base_url, model.name, "ended")
        if not parts:  # nothing at all: what a server may say to a prompt past its window
            window = await self._window_refusing(fitted)
            error = (
                self._past_window(fitted, window)
                if window
                else answers.no_reply(self.settings.base_url, model.name, model.context_window)
            )
        self._fail(user, error, partial if parts else None, request_id)

    async def _window_refusing(self, fitted: Fitted) -> int:
        """The window a server names when asked again, not streamed, for one token (it
        checks the size before any work; llama-cpp-python streams nothing instead); 0 if none."""
        try:
            await self._llm().once.chat.completions.create(
                model=self._model().name,
                messages=cast(Any, fitted.messages),  # plain role/content dicts
                max_tokens=1,
                stream=False,
            )
        except Exception as exc:
            return window_in_error(str(exc)) or 0
        return 0

    def _past_window(self, fitted: Fitted, window: int) -> p.ErrorInfo:
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
        return answers.past_window(
            where, said, fitted.prompt_tokens, model.max_output_tokens, model.context_window
        )

    async def _fold(
        self, system: str, history: list[p.ChatMessage], model: ModelInfo, request_id: str
    ) -> tuple[str, int]:
        """The session's summary and how many messages it stands for, after folding what
        the request needs folded (``chat.fold``); each step is shown."""
        assert self.profile is not None and self.session is not None
        store = self.profile.sessions
        summary, folded = store.summary(self.session.id)
        context = Context(system, summary, min(folded, len(history) - 1), history, self._recalled)
        limits = Thresholds(self.settings.fold_at_tokens or 10**9, self.settings.fold_at_messages)
        folding = chat.fold(
            self._llm(),
            model,
            self._prompts["fold"],
            context,
            self._counter(),
            limits,
            store,
            self.session.id,
        )
        summary, folded = context.summary, context.folded
        async for step in folding:
            match step:
                case chat.Folding():
                    self.emit(p.Folding(step.count, request_id))
                case chat.Folded():
                    summary, folded = step.summary, step.folded
                    self.emit(p.ContextFolded(folded, summary, request_id))
                case chat.NotFolded():
                    self.emit(p.Notice("warning", answers.NOT_FOLDED, request_id))
        return summary, folded

    def _flush(self, reply_id: str, pending: list[str], request_id: str) -> None:
        if pending:
            self.emit(p.ReplyDelta(reply_id, "".join(pending), request_id))
            pending.clear()

    def _finish(self, ending: Ending, request_id: str, *, reply_done: bool) -> p.ChatMessage:
        """Store the reply (whole or cut off) and update the totals. ``reply_done``: the UI
        is told with ``ReplyDone`` (a whole reply, or one the user stopped); otherwise the
        caller follows with the ``ReplyFailed`` that shows the part kept."""
        assert self.profile is not None and self.session is not None
        user = ending.user
        reply = reply_of(ending, self._counter(), self.clock())
        prompt, completion = reply.prompt_tokens, reply.completion_tokens
        if reply.content:
            try:
                self.profile.sessions.append(self.session.id, reply)
            except (OSError, StoreError) as exc:  # shown and used as context, not stored
                self._not_saved(exc, request_id)
            else:
                self.memory_service().add_turn(self.session.id, reply)
            self.history.append(reply)
        if user.status == "failed":
            self._set_status(user, "ok")
        self.session_prompt += prompt
        self.session_completion += completion
        if reply_done:
            self.emit(p.ReplyDone(reply, request_id))
        self._emit_usage(request_id, prompt, completion)
        return reply

    def _fail(self, user, error: p.ErrorInfo, partial, request_id: str) -> None:
        if user.status != "failed" and partial is None:
            self._set_status(user, "failed")
        self.emit(p.ReplyFailed(user.id, error, partial, request_id))

    def _set_status(self, message: p.ChatMessage, status: str) -> None:
        assert self.profile is not None and self.session is not None
        updated = replace(message, status=status)
        self.history[self.history.index(message)] = updated
        try:
            self.profile.sessions.update(self.session.id, updated)
        except (OSError, StoreError) as exc:  # the status is kept in memory only
            log.warning("status of %s not stored: %s", message.id, exc)

    # ------------------------------------------------------------ memory

    async def _extract(self, user: p.ChatMessage, reply: p.ChatMessage, request_id: str) -> None:
        assert self.session is not None
        done = await self.memory_service().extract(
            self._llm(),
            self._model().name,
            self._prompts["extract"],
            (user, reply),
            self.session.id,
            self._fitting(),
        )
        self.tell(done, request_id)

    def _fitting(self) -> tuple[ServerCounter, int]:
        """What background requests are fitted with: the counter and the window."""
        return self._counter(), self._model().context_window

    async def _journal(self, session: p.SessionInfo, request_id: str = "") -> bool:
        if not self.settings.configured:
            return False
        done = await self.memory_service().summarize(
            self._llm(), self._model().name, self._prompts["summarize"], session, self._fitting()
        )
        if done is None:
            return False
        self.tell(done, request_id)
        return True

    async def _journal_waiting(self) -> None:
        """Sessions that ended while the model was slow or down get their entry now."""
        await self.memory_service().ready()  # the memories are read in a thread: not here
        for session in self.memory_service().unjournaled(self.session_id()):
            if not await self.line.run("journal", functools.partial(self._journal, session)):
                break

    async def _journal_at_quit(self) -> None:
        if self.memory is None or self.session is None or not self.settings.configured:
            return
        assert self.profile is not None
        self.profile.sessions.flush()  # everything is saved before the model is asked
        if self.line.width == 1:  # a server computing one request at a time is never that quick
            log.info("journal entry left to the next start")
            return
        job = functools.partial(self._journal, self.session)
        try:
            await asyncio.wait_for(self.line.run("journal", job), JOURNAL_AT_QUIT)
        except TimeoutError:
            log.info("journal entry deferred to the next start")

    async def _end_session(self, request: p.EndSession) -> None:
        assert self.profile is not None and self.session is not None
        ended = self.session
        self.profile.sessions.flush()
        self._open_session(self.session_service().to_show(self.clock(), new=True), request.id)
        self._spawn(request.id, self._journal_ended(ended, request.id))

    async def _journal_ended(self, ended: p.SessionInfo, request_id: str) -> None:
        """The ended session's journal entry, in the background: the new one starts at once."""
        if not await self.line.run("journal", functools.partial(self._journal, ended, request_id)):
            self.emit(
                p.Notice(
                    "information",
                    "The journal entry for that session will be written later.",
                    request_id,
                )
            )

    def show_latest(self, request_id: str) -> None:
        self._open_session(self.session_service().to_show(self.clock()), request_id)

    async def _title(self, user: p.ChatMessage, reply: p.ChatMessage) -> None:
        """Name the session after its first exchange (the fallback stays if the model fails)."""
        assert self.session is not None
        session = self.session
        title = await title_for(
            self._llm(), self._model().name, self._prompts["title"], (user, reply), self._counter()
        )
        stored = self.profile.sessions.get(session.id) if self.profile is not None else None
        if title and stored is not None and stored.title == fallback_title(user.content):
            self.rename(session.id, title, "")

    def memory_service(self) -> MemoryService:
        assert self.memory is not None
        return self.memory

    def session_service(self) -> SessionService:
        assert self.sessions is not None
        return self.sessions

    def session_id(self) -> str:
        return self.session.id if self.session is not None else ""

    # ------------------------------------------------------------ usage

    def _emit_usage(self, request_id: str, last_prompt: int = 0, last_completion: int = 0) -> None:
        summary, folded = ("", 0)
        if self.profile is not None and self.session is not None:
            summary, folded = self.profile.sessions.summary(self.session.id)
        context = Context(self._system, summary, folded, self.history, self._recalled)
        usage = usage_of(
            context,
            self._model(),
            self._counter(),
            (self.session_prompt, self.session_completion),
            (last_prompt, last_completion),
            self.settings.configured,
        )
        self.emit(p.UsageUpdated(usage, request_id))

    def _model(self) -> ModelInfo:
        assert self.model is not None
        return self.model

    def _counter(self) -> ServerCounter:
        assert self.counter is not None
        return self.counter


_SAVABLE = {"base_url", "api_key", "model", "theme"}

NOW, TASK, TURN = "now", "task", "turn"  # TURN: a task after the exchange before it
Handler = Callable[[Worker, Any], Any]
ROUTES: dict[type, tuple[Handler, str]] = {
    p.Start: (Worker._start, NOW),
    p.SendMessage: (Worker._send, TURN),
    p.Resend: (Worker._resend, TURN),
    p.KeepCut: (Worker._keep_cut, TURN),
    p.Cancel: (Worker._cancel, NOW),
    p.LoadOlder: (Worker._load_older, NOW),
    p.LoadNewer: (Worker._load_newer, NOW),
    p.ListModels: (Worker._list_models, TASK),
    p.SaveSettings: (Worker._save_settings, NOW),
    p.SwitchProfile: (Worker._switch_profile, NOW),
    p.Shutdown: (Worker._shutdown, NOW),
    p.Remember: (requests.remember, NOW),
    p.Forget: (requests.forget, NOW),
    p.Undo: (requests.undo, NOW),
    p.ListMemories: (requests.list_memories, NOW),
    p.ShowMemory: (requests.show_memory, NOW),
    p.SaveMemory: (requests.save_memory, NOW),
    p.DeleteMemory: (requests.delete_memory, NOW),
    p.PinMemory: (requests.pin_memory, NOW),
    p.OpenSession: (Worker._switch_session, TURN),
    p.EndSession: (Worker._end_session, TURN),
    p.ListSessions: (requests.list_sessions, NOW),
    p.SearchSessions: (Worker._search_latest, NOW),
    p.RenameSession: (requests.rename_session, NOW),
    p.DeleteSession: (requests.delete_session, TURN),
    p.ExportSession: (requests.export_session, NOW),
    p.ImportSession: (requests.import_session, NOW),
    p.GetStats: (requests.stats, NOW),
}
