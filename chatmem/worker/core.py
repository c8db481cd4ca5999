"""The worker's logic: owns the store, the LLM client and token counting.

Runs in the worker process (``chatmem.worker.process``) or in-process for tests and the
headless CLI. It speaks only ``chatmem.protocol``: ``handle`` takes requests, ``emit``
sends events.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chatmem import protocol as p
from chatmem.config import Settings, save_settings
from chatmem.domain.context import (
    FOLD_TOKENS,
    TITLE_TOKENS,
    Fitted,
    Thresholds,
    TooLarge,
    clip,
    fit,
    leading,
    to_fold,
    turn_start,
    with_memory,
    with_summary,
)
from chatmem.domain.tokens import REPLY_PRIMING, TokenCounter, clean_text
from chatmem.llm import errors
from chatmem.llm.models import ModelInfo, ModelTable, served_window, window_in_error
from chatmem.logs import register_secret
from chatmem.paths import resolve_paths
from chatmem.prompts import load_prompt
from chatmem.store.atomic import StoreError, disk_problem
from chatmem.store.profile import Profile, ReadOnly
from chatmem.worker.line import Line, Unusable, ask
from chatmem.worker.memory import MemoryService, open_profile
from chatmem.worker.sessions import SessionService, clean_title, fallback_title

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

RECENT = 30  # messages sent to the UI when a session opens (or from the message it opens at)
FLUSH_EVERY = 0.03  # seconds between ReplyDelta events: the UI renders batches, not tokens
PROBE_TIMEOUT = 1.5
SPARK_TURNS = 40  # turns in the sidebar's sparkline
JOURNAL_AT_QUIT = 1.0  # seconds quitting may wait for the journal entry; else at next start


def _log_failure(task: asyncio.Task, what: str = "the embedder") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", what, exc_info=task.exception())


SEARCH = "search"  # the task key of the transcript search running or waiting


def new_message_id() -> str:
    return uuid.uuid4().hex[:12]


class Worker:
    def __init__(self, emit: Callable[[p.Event], None], clock: Callable[[], float] = time.time):
        self.emit = emit
        self.clock = clock
        self.settings = Settings()
        self.profile: Profile | None = None
        self.memory: MemoryService | None = None
        self.sessions: SessionService | None = None
        self.session: p.SessionInfo | None = None
        self.history: list[p.ChatMessage] = []
        self.llm: LLM | None = None
        self.model: ModelInfo | None = None
        self.counter: TokenCounter | None = None
        self.replies: dict[str, asyncio.Task] = {}
        self.tasks: set[asyncio.Task] = set()
        self.embedder: asyncio.Task | None = None  # lives as long as the settings it was made for
        self.session_prompt = 0
        self.session_completion = 0
        self._system = ""
        self._recalled = ""  # memory text of the latest request: the next one is about as big
        self._recalled_ids: set[str] = set()  # the memories in it (the browser's "recalled")
        self._prompts: dict[str, str] = {}
        self._turn = asyncio.Lock()  # one exchange at a time, in the order they were asked
        self.line = Line(1)  # the requests toward the model server: the reply first
        self.window: asyncio.Task | None = None  # learning the server's context window
        self.readonly = ""  # why the profile is open read-only ("": writable)

    # ------------------------------------------------------------ dispatch

    async def handle(self, request: p.Request) -> None:
        """Handle one request; long work (replies, network look-ups) continues as a task. A
        store that cannot be written (disk full, read-only, not ours) is reported, not fatal."""
        try:
            await self._dispatch(request)
        except (OSError, StoreError) as exc:
            self._not_saved(exc, request.id)

    async def _dispatch(self, request: p.Request) -> None:
        match request:
            case p.Start():
                await self._start(request)
            case p.SendMessage():
                self._spawn(request.id, self._in_turn(self._send(request)))
            case p.Resend():
                self._spawn(request.id, self._in_turn(self._resend(request)))
            case p.KeepCut():
                self._spawn(request.id, self._in_turn(self._keep_cut(request)))
            case p.Cancel():
                task = self.replies.get(request.target)
                if task is not None:
                    task.cancel()
            case p.LoadOlder():
                self._load_older(request)
            case p.LoadNewer():
                at = next((i for i, m in enumerate(self.history) if m.id == request.after_id), 0)
                newer = self.history[at + 1 : at + 1 + request.limit]
                more = at + 1 + len(newer) < len(self.history)
                self.emit(p.NewerMessages(tuple(newer), more, request.id))
            case p.ListModels():
                self._spawn(request.id, self._list_models(request))
            case p.SaveSettings():
                self._save_settings(request)
            case p.Remember():
                self._memory().remember(request.text, self._session_id(), request.id)
            case p.Forget():
                self._memory().forget(request.query, request.id)
            case p.Undo():
                self._memory().undo(request.change_id, request.id)
            case p.ListMemories():
                self._memory().browse(request, self._recalled_ids)
            case p.ShowMemory():
                self._memory().show(request.memory_id, request.id)
            case p.SaveMemory():
                self._memory().save(request)
            case p.DeleteMemory():
                self._memory().delete(request.memory_id, request.id)
            case p.PinMemory():
                self._memory().pin(request.memory_id, request.pinned, request.id)
            case p.OpenSession():
                self._spawn(request.id, self._in_turn(self._switch_session(request)))
            case p.EndSession():
                self._spawn(request.id, self._in_turn(self._end_session(request)))
            case p.ListSessions():
                self._sessions().list(self._session_id(), request.id)
            case p.SearchSessions():  # a newer query read meanwhile replaces a waiting one
                if (searching := self.replies.get(SEARCH)) is not None:
                    searching.cancel()
                self._spawn(SEARCH, self._search(request))
            case p.RenameSession():
                self._renamed(self._sessions().rename(request.session_id, request.title, ""))
                self._sessions().list(self._session_id(), request.id)
            case p.DeleteSession():
                self._spawn(request.id, self._in_turn(self._delete_session(request)))
            case p.ExportSession():
                self._sessions().export(request.session_id, request.path, request.id)
            case p.ImportSession():
                if self._sessions().import_file(request.path, request.id) is not None:
                    self._sessions().list(self._session_id(), request.id)
            case p.SwitchProfile():
                await self._switch_profile(request)
            case p.GetStats():
                self._sessions().stats(request.days, self.clock(), request.id)
            case p.Shutdown():
                await self._journal_at_quit()
                await self.close()

    async def _in_turn(self, coro) -> None:
        try:
            async with self._turn:
                await coro
        finally:
            coro.close()  # a no-op once it ran; quiet if it was cancelled while queued

    async def _search(self, request: p.SearchSessions) -> None:
        self._sessions().search(request.query, request.limit, request.id)

    def _spawn(self, request_id: str, coro) -> None:
        task = asyncio.create_task(coro)
        self.replies[request_id] = task
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if self.replies.get(request_id) is t:  # not a newer task under the same key
                del self.replies[request_id]
            failure = None if t.cancelled() else t.exception()
            if isinstance(failure, OSError | StoreError):  # told, not only logged
                self._not_saved(failure, request_id)
            else:
                _log_failure(t, f"request {request_id}")

        task.add_done_callback(done)

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
        """Wait until every task a request started is done and every memory is embedded."""
        while True:
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
        if self.memory is not None:
            self.memory.close()
            self.memory = None
        if self.profile is not None:
            self.profile.close()
            self.profile = None
        self.sessions = None

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
        if self.profile is None:
            try:
                self._use_profile(self.settings.profile)
            except (OSError, StoreError) as exc:
                if not self._use_readonly(exc, request.id):
                    return
        self._opened(request.new_session, request.id, request.session_id)
        self._learn_window(request.id)
        if not self.settings.configured:
            self._spawn(request.id + ":probe", self._probe_local(request.id))

    def _use_profile(self, name: str, readonly: bool = False) -> None:
        self.profile, self.memory = open_profile(
            Path(self.settings.data_dir), name, self.clock, self.emit, readonly
        )
        self.sessions = SessionService(self.profile, self.memory, self.emit)

    def _use_readonly(self, exc: OSError | StoreError, request_id: str) -> bool:
        """The profile cannot be opened for writing (locked by another chatmem, a read-only
        or foreign-owned folder): open it to read, and say why. False if even that fails."""
        self.readonly = self._why_readonly(exc)
        log.warning("profile opened read-only: %s", self.readonly)
        try:
            self._use_profile(self.settings.profile, readonly=True)
        except (OSError, StoreError) as again:
            problem = disk_problem(again) if isinstance(again, OSError) else str(again)
            self.emit(p.Notice("error", f"{self.readonly} It cannot be read either: {problem}"))
            return False
        return True

    @staticmethod
    def _why_readonly(exc: OSError | StoreError) -> str:
        if isinstance(exc, OSError):
            return f"The profile cannot be written: {disk_problem(exc)}."
        return str(exc)

    async def _writable(self, request_id: str) -> bool:
        """A read-only profile tries again to open for writing (the other chatmem closed,
        the folder was fixed); on success the session is shown anew, writable."""
        if not self.readonly:
            return True
        try:
            profile, memory = open_profile(
                Path(self.settings.data_dir), self.settings.profile, self.clock, self.emit
            )
        except (OSError, StoreError) as exc:
            self.readonly = self._why_readonly(exc)
            return False
        session_id = self._session_id()
        await self._close_profile()
        self.profile, self.memory = profile, memory
        self.sessions = SessionService(profile, memory, self.emit)
        self.readonly = ""
        self._opened(False, request_id, session_id)
        return True

    def _opened(self, new_session: bool, request_id: str, session_id: str = "") -> None:
        """The profile is open: say what it noticed, show the session asked for or its
        latest, start the background work."""
        assert self.profile is not None
        store = self.profile.sessions
        # may add a notice (a newer file)
        session = None if new_session else store.get(session_id) or store.latest()
        if session is None and self.readonly:  # shown, never stored
            now = self.clock()
            session = p.SessionInfo(new_message_id(), "", now, 0, now)
        elif session is None:
            session = store.create(self.clock())
        for notice in self.profile.notices:
            self.emit(p.Notice("warning", notice, request_id))
        self.profile.notices.clear()
        self._open_session(session, request_id)
        if self.settings.configured and not self.readonly:
            if self.settings.memory_budget:  # 0: memory is off (chatmem ask --no-memory)
                self._spawn(request_id + ":journal", self._journal_waiting())
            self._embed_memories()

    async def _switch_profile(self, request: p.SwitchProfile) -> None:
        """Open the other profile first (it may be locked or invalid), then close this one."""
        if self.profile is not None and request.name == self.profile.root.name:
            return
        old = (self.profile, self.memory, self.sessions)
        try:
            self._use_profile(request.name)
        except (OSError, StoreError) as exc:
            self.profile, self.memory, self.sessions = old
            problem = disk_problem(exc) if isinstance(exc, OSError) else str(exc)
            self.emit(p.Notice("error", problem, request.id))
            return
        new = (self.profile, self.memory, self.sessions)
        self.profile, self.memory, self.sessions = old
        await self._close_profile()
        self.profile, self.memory, self.sessions = new
        self.settings = replace(self.settings, profile=request.name)
        self.readonly = ""
        self._recalled, self._recalled_ids = "", set()
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
        if self.counter is None or self.counter.model != self.model.name:
            self.counter = TokenCounter(self.model.name)
        self._system = load_prompt("system", paths.prompts_dir)
        self._prompts = {
            name: load_prompt(name, paths.prompts_dir)
            for name in ("extract", "summarize", "fold", "title")
        }
        if self.llm is not None:
            self._spawn("llm-close", self.llm.close())
        self.llm = None  # built on first use: importing and creating the client is not free

    def _open_session(self, session: p.SessionInfo, request_id: str, focus: str = "") -> None:
        """Make ``session`` current; the UI gets its recent messages, or from ``focus`` on."""
        assert self.profile is not None
        store = self.profile.sessions
        self.session = session
        self.history, _ = store.recent(session.id, 10**9)
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
        session = self.profile.sessions.get(request.session_id)
        if session is None:
            self.emit(p.Notice("warning", "That conversation is no longer stored.", request.id))
            return
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
        typed = {k: (str(v).rstrip("/") if k == "base_url" else str(v)) for k, v in values.items()}
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
            coro = self._memory().keep_embedded(self._llm(), self.profile.root, model, self.line)
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
            error = p.ErrorInfo(
                "too_large",
                "Message too long for the model",
                f"This message is about {message.tokens:,} tokens; {self._model().name} takes "
                f"{budget:,} for a whole request. It was not sent; shorten it or split it.",
            )
            self.emit(p.ReplyFailed("", error, None, request.id))
            return
        if not await self._writable(request.id):
            self.emit(p.ReplyFailed("", _read_only(self.readonly), None, request.id))
            return
        try:
            self.profile.sessions.append(self.session.id, message)  # saved before it is sent
        except (OSError, StoreError) as exc:
            self.emit(p.ReplyFailed("", _unsaved(self._storage_problem(exc)), None, request.id))
            return
        self._memory().add_turn(self.session.id, message)
        self.history.append(message)
        self.emit(p.MessageSaved(message, request.id))
        if not self.session.title:
            self._renamed(self._sessions().rename(self.session.id, fallback_title(text), ""))
        await self._reply(message, request.id)

    async def _resend(self, request: p.Resend) -> None:
        message = next((m for m in self.history if m.id == request.message_id), None)
        if message is None:
            self.emit(p.Notice("warning", "That message is no longer in this session.", request.id))
            return
        await self._reply(message, request.id)

    async def _keep_cut(self, request: p.KeepCut) -> None:
        """The worker before this one died answering a message: keep what the UI showed."""
        user = next((m for m in self.history if m.id == request.user_message_id), None)
        if user is None or self.history[-1] is not user:  # not the last: it was answered
            return
        partial = None
        if request.text:
            partial = self._finish(user, new_message_id(), [request.text], None, 0, "", "cut")
            self.emit(p.MessageSaved(partial, request.id))
        error = p.ErrorInfo(
            "cut",
            "The reply was cut off",
            "The worker stopped while the reply was coming; what arrived is kept."
            if request.text
            else "The worker stopped before the reply began.",
            ("resend",),
        )
        self._fail(user, error, partial, request.id)

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
            stopped = p.ErrorInfo(
                "stopped",
                "Stopped before the reply",
                "Your message is kept; it was not answered.",
                ("resend",),
            )
            self._fail(user, stopped, None, request_id)
            raise
        if prepared is not None:
            await self._answer(user, prepared, request_id)

    async def _prepare(self, user: p.ChatMessage, request_id: str) -> Fitted | None:
        """Recall, fold and fit the request answering ``user`` (None: it cannot be sent)."""
        model = self._model()
        history = self.history[: self.history.index(user) + 1]
        recalled = await self._memory().build(
            self._llm(),
            user.content,
            self._counter(),
            min(self.settings.memory_budget, model.context_window // 4),
            self.session.id,
        )
        self.emit(p.RecallUsed(recalled.items, recalled.tokens, recalled.semantic, request_id))
        self._recalled = recalled.text
        self._recalled_ids = {item.id for item in recalled.items if item.kind != "message"}
        summary, folded = await self._fold(self._system, history, model, request_id)
        try:
            fitted = fit(
                with_summary(self._system, summary),
                history[folded:],
                self._counter(),
                model.context_window,
                model.max_output_tokens,
                self._recalled,
            )
        except TooLarge as exc:
            error = p.ErrorInfo(
                "too_large",
                "Message too long for the model",
                f"About {exc.tokens:,} tokens; {model.name} takes {exc.budget:,}.",
            )
            self._fail(user, error, None, request_id)
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
        try:
            limit = None if self.settings.is_openai else model.max_output_tokens  # n_ctx bound
            async for item in self._llm().stream(fitted.messages, model.name, limit):
                if isinstance(item, str):
                    parts.append(item)
                    pending.append(item)
                    now = time.monotonic()
                    if now - last_flush >= FLUSH_EVERY:
                        self.emit(p.ReplyDelta(reply_id, "".join(pending), request_id))
                        pending.clear()
                        last_flush = now
                else:
                    finish = item
        except asyncio.CancelledError:
            self._flush(reply_id, pending, request_id)
            self._finish(user, reply_id, parts, None, fitted.prompt_tokens, request_id, "cut")
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
                partial = self._finish(user, reply_id, parts, None, fitted.prompt_tokens, "", "cut")
            if parts and info.kind == "connection":
                info = p.ErrorInfo(
                    "cut",
                    "The reply was cut off",
                    f"The connection to {self.settings.base_url} broke before {model.name} "
                    "finished. What arrived is kept.",
                    ("resend",),
                )
            self._fail(user, info, partial, request_id)
            return
        self._flush(reply_id, pending, request_id)
        if finish is not None and finish.reason == "length":
            partial = self._finish(user, reply_id, parts, finish, fitted.prompt_tokens, "", "cut")
            error = p.ErrorInfo(
                "length",
                "The reply reached its length limit",
                f"{model.name} stopped at the most a reply may take here "
                f"({model.max_output_tokens:,} tokens, max_output_tokens); what arrived is kept. "
                "Ask it to go on, or raise max_output_tokens for this model in models.toml.",
            )
            self._fail(user, error, partial if parts else None, request_id)
            return
        if finish is not None and finish.reason is not None:
            reply = self._finish(
                user, reply_id, parts, finish, fitted.prompt_tokens, request_id, "ok"
            )
            if self.settings.memory_budget:  # 0: memory is off
                job = functools.partial(self._extract, user, reply, request_id)
                self._spawn(request_id + ":extract", self.line.run("extract", job))
            if sum(m.role == "assistant" for m in self.history) == 1:
                job = functools.partial(self._title, user, reply)
                self._spawn(request_id + ":title", self.line.run("title", job))
            return
        partial = self._finish(user, reply_id, parts, finish, fitted.prompt_tokens, "", "cut")
        ended = f"The connection to {self.settings.base_url} ended before {model.name}"
        error = p.ErrorInfo(
            "cut",
            "The reply was cut off",
            f"{ended} finished. What arrived is kept.",
            ("resend",),
        )
        if not parts:  # nothing at all: what a server may say to a prompt past its window
            window = await self._window_refusing(fitted)
            error = (
                self._past_window(fitted, window)
                if window
                else p.ErrorInfo(
                    "cut",
                    "No reply arrived",
                    f"{ended} sent any text. If the request is past the server's window (fitted "
                    f"here to {model.context_window:,} tokens), set context_window "
                    "(CHATMEM_CONTEXT_WINDOW) to the server's.",
                    ("resend", "settings"),
                )
            )
        self._fail(user, error, partial if parts else None, request_id)

    async def _window_refusing(self, fitted: Fitted) -> int:
        """The window a server names when asked again, not streamed, for one token (it
        checks the size before any work; llama-cpp-python streams nothing instead); 0 if none."""
        try:
            await self._llm().once.chat.completions.create(
                model=self._model().name, messages=fitted.messages, max_tokens=1, stream=False
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
        return p.ErrorInfo(
            "too_large",
            "The request is past the server's context window",
            f"{where} {said}; the request was about {fitted.prompt_tokens:,} tokens plus "
            f"{model.max_output_tokens:,} for the reply, fitted to a "
            f"{model.context_window:,}-token window. Set context_window (CHATMEM_CONTEXT_WINDOW) "
            "to the server's window, or start the server with a larger one (llama.cpp: "
            "--ctx-size; llama-cpp-python: --n_ctx).",
            ("settings", "resend"),
        )

    async def _fold(
        self, system: str, history: list[p.ChatMessage], model: ModelInfo, request_id: str
    ) -> tuple[str, int]:
        """Fold the oldest turns into the session's rolling summary while the conversation is
        past a threshold or does not fit; if the model cannot do it, they are trimmed instead."""
        assert self.profile is not None and self.session is not None
        store, counter = self.profile.sessions, self._counter()
        summary, folded = store.summary(self.session.id)
        folded = min(folded, len(history) - 1)
        limits = Thresholds(self.settings.fold_at_tokens or 10**9, self.settings.fold_at_messages)
        room = model.context_window - model.max_output_tokens - REPLY_PRIMING
        while True:
            left = room - counter.count_message(with_summary(system, summary))
            left -= counter.count(with_memory("", self._recalled)) if self._recalled else 0
            count = to_fold(history[folded:], counter, left, limits)
            if not count:
                return summary, folded
            costs = [m.tokens or counter.count_message(m.content) for m in history[folded:]]
            end = folded + min(count, leading(costs, room // 2))
            chunk = history[folded : turn_start(history, end, folded)]
            self.emit(p.Folding(len(chunk), request_id))
            transcript = "\n\n".join(
                f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in chunk
            )
            asked = [
                {"role": "system", "content": self._prompts["fold"]},
                {
                    "role": "user",
                    "content": f"Summary so far:\n{summary or '(none)'}\n\n"
                    f"Next messages:\n{transcript}",
                },
            ]
            try:
                new = await ask(self._llm(), asked, model.name, min(FOLD_TOKENS, room // 4))
            except Exception as exc:
                log.info("folding failed: %s", exc if isinstance(exc, Unusable) else type(exc))
                new = ""
            if not new:
                self.emit(
                    p.Notice(
                        "warning",
                        "Could not summarize the older messages; the oldest are left out of "
                        "this request instead (they are all still stored).",
                        request_id,
                    )
                )
                return summary, folded
            summary, folded = new, folded + len(chunk)
            store.set_summary(self.session.id, summary, folded)
            self.emit(p.ContextFolded(folded, summary, request_id))

    def _flush(self, reply_id: str, pending: list[str], request_id: str) -> None:
        if pending:
            self.emit(p.ReplyDelta(reply_id, "".join(pending), request_id))
            pending.clear()

    def _finish(self, user, reply_id, parts, finish, counted_prompt, request_id, status):
        """Store the reply (whole or cut off), update totals, tell the UI."""
        assert self.profile is not None and self.session is not None
        text = "".join(parts)
        counter = self._counter()
        prompt = (
            finish.prompt_tokens if finish and finish.prompt_tokens is not None else counted_prompt
        )
        completion = (
            finish.completion_tokens
            if finish and finish.completion_tokens is not None
            else counter.count(text)
        )
        reply = p.ChatMessage(
            id=reply_id,
            role="assistant",
            content=text,
            created=self.clock(),
            tokens=counter.count_message(text),
            status=status,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
        if text:
            try:
                self.profile.sessions.append(self.session.id, reply)
            except (OSError, StoreError) as exc:  # shown and used as context, not stored
                self._not_saved(exc, request_id)
            else:
                self._memory().add_turn(self.session.id, reply)
            self.history.append(reply)
        if user.status == "failed":
            self._set_status(user, "ok")
        self.session_prompt += prompt
        self.session_completion += completion
        if request_id:
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
        await self._memory().extract(
            self._llm(),
            self._model().name,
            self._prompts["extract"],
            (user, reply),
            self.session.id,
            self._fitting(),
            request_id,
        )

    def _fitting(self) -> tuple[TokenCounter, int]:
        """What background requests are fitted with: the counter and the window."""
        return self._counter(), self._model().context_window

    async def _journal(self, session: p.SessionInfo, request_id: str = "") -> bool:
        if not self.settings.configured:
            return False
        return await self._memory().summarize(
            self._llm(),
            self._model().name,
            self._prompts["summarize"],
            session,
            self._fitting(),
            request_id,
        )

    async def _journal_waiting(self) -> None:
        """Sessions that ended while the model was slow or down get their entry now."""
        await self._memory().ready()  # the memories are read in a thread: not waited for here
        for session in self._memory().unjournaled(self._session_id()):
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
        self._open_session(self.profile.sessions.create(self.clock()), request.id)
        self._spawn(request.id + ":journal", self._journal_ended(ended, request.id))

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

    async def _delete_session(self, request: p.DeleteSession) -> None:
        assert self.profile is not None
        self._sessions().delete(request.session_id, request.with_memories, request.id)
        if request.session_id == self._session_id():  # the chat showed it: show the latest
            store = self.profile.sessions
            self._open_session(store.latest() or store.create(self.clock()), request.id)
        self._sessions().list(self._session_id(), request.id)

    def _renamed(self, info: p.SessionInfo | None) -> None:
        if info is not None and info.id == self._session_id():
            self.session = info

    async def _title(self, user: p.ChatMessage, reply: p.ChatMessage) -> None:
        """Name the session after its first exchange (the fallback stays if the model fails)."""
        assert self.session is not None
        session = self.session
        counter = self._counter()  # the start of the exchange names it well enough
        said = f"User: {clip(user.content, counter, 300)}\n\nAssistant: "
        said += clip(reply.content, counter, 200)
        asked = [
            {"role": "system", "content": self._prompts["title"]},
            {"role": "user", "content": said},
        ]
        try:
            answer = await ask(self._llm(), asked, self._model().name, TITLE_TOKENS)
        except Exception as exc:
            log.info("no title for %s: %s", session.id, type(exc).__name__)
            return
        title = clean_title(answer)
        stored = self.profile.sessions.get(session.id) if self.profile is not None else None
        if title and stored is not None and stored.title == fallback_title(user.content):
            self._renamed(self._sessions().rename(session.id, title, ""))

    def _memory(self) -> MemoryService:
        assert self.memory is not None
        return self.memory

    def _sessions(self) -> SessionService:
        assert self.sessions is not None
        return self.sessions

    def _session_id(self) -> str:
        return self.session.id if self.session is not None else ""

    # ------------------------------------------------------------ usage

    def _emit_usage(self, request_id: str, last_prompt: int = 0, last_completion: int = 0) -> None:
        model, counter = self._model(), self._counter()
        summary, folded = ("", 0)
        if self.profile is not None and self.session is not None:
            summary, folded = self.profile.sessions.summary(self.session.id)
        verbatim = self.history[folded:]
        try:
            fitted = fit(
                with_summary(self._system, summary),
                verbatim,
                counter,
                model.context_window,
                0,
                self._recalled,
            )
            context, sent = fitted.prompt_tokens, len(verbatim) - fitted.dropped
        except TooLarge as exc:
            context, sent = exc.tokens, 0
        usage = p.Usage(
            model=model.name if self.settings.configured else "",
            context_tokens=context,
            context_window=model.context_window,
            window_assumed=model.assumed,
            estimated=counter.estimated,
            last_prompt=last_prompt,
            last_completion=last_completion,
            session_prompt=self.session_prompt,
            session_completion=self.session_completion,
            session_cost=model.cost(self.session_prompt, self.session_completion),
            verbatim_messages=sent,
            summary_tokens=counter.count(summary) if summary else 0,
            summarized_messages=folded,
            memory_tokens=counter.count(self._recalled) if self._recalled else 0,
            turn_tokens=tuple(
                m.prompt_tokens + m.completion_tokens
                for m in self.history[-2 * SPARK_TURNS :]
                if m.role == "assistant"
            )[-SPARK_TURNS:],
        )
        self.emit(p.UsageUpdated(usage, request_id))

    def _model(self) -> ModelInfo:
        assert self.model is not None
        return self.model

    def _counter(self) -> TokenCounter:
        assert self.counter is not None
        return self.counter


_SAVABLE = {"base_url", "api_key", "model", "theme"}


def _read_only(reason: str) -> p.ErrorInfo:
    return p.ErrorInfo("read_only", "Read-only: your message was not sent", reason)


def _unsaved(problem: str) -> p.ErrorInfo:
    return p.ErrorInfo("storage", "Your message was not saved or sent", problem)
