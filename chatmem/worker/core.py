"""The worker: a thin dispatch from requests to the services, their results told as events.

Runs in the worker process (``chatmem.worker.process``) or in-process for tests. It speaks
only ``chatmem.protocol``: ``handle`` takes requests, ``emit`` sends events. It owns the
profile's lifecycle and the tasks; the chat service (``services/chat.py``) holds the session
the chat shows and the model it is asked with, and a turn (``services/turn.py``) answers on it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.llm import errors
from chatmem.llm.models import ModelInfo
from chatmem.llm.tokenize import ServerCounter
from chatmem.paths import resolve_paths
from chatmem.services import failures, profiles
from chatmem.services.chat import ChatService
from chatmem.services.errors import NotSent, ServiceError
from chatmem.services.line import Line
from chatmem.services.memories import Changed, MemoryService
from chatmem.services.sessions import SessionService
from chatmem.services.turn import Answered, Step, Stop, Turn
from chatmem.store.atomic import StoreError
from chatmem.store.config_file import save_settings
from chatmem.store.profile import Profile
from chatmem.worker import answers, requests

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

RECENT = 30  # messages sent to the UI when a session opens (or from the message it opens at)
PROBE_TIMEOUT = 1.5
JOURNAL_AT_QUIT = 1.0  # seconds quitting may wait for the journal entry; else at next start


def _log_failure(task: asyncio.Task, what: str = "the embedder") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", what, exc_info=task.exception())


class Worker:
    def __init__(self, emit: Callable[[p.Event], None], clock: Callable[[], float] = time.time):
        self.emit = emit
        self.line = Line(1)  # the requests toward the model server: the reply first
        self.chat = ChatService(self.line, clock)  # the session shown and the model
        self.requests: dict[str, asyncio.Task] = {}  # the work of a request, for Cancel
        self.stops: dict[str, Stop] = {}  # the turns running, by request
        self.answered: dict[str, str] = {}  # the last whole reply's id, by its request
        self.search: asyncio.Task | None = None  # the transcript search running or waiting
        self.tasks: set[asyncio.Task] = set()  # every task: requests' and background work
        self.embedder: asyncio.Task | None = None  # lives as long as the settings it was made for
        self._turn = asyncio.Lock()  # one exchange at a time, in the order they were asked

    @property
    def clock(self) -> Callable[[], float]:
        return self.chat.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.chat.clock = clock

    @property
    def opened(self) -> profiles.OpenProfile | None:
        """The profile and its services."""
        return self.chat.opened

    @opened.setter
    def opened(self, opened: profiles.OpenProfile | None) -> None:
        self.chat.opened = opened

    @property
    def settings(self) -> Settings:
        return self.chat.settings

    @property
    def session(self) -> p.SessionInfo | None:
        return self.chat.session

    @property
    def history(self) -> list[p.ChatMessage]:
        return self.chat.history

    @property
    def model(self) -> ModelInfo | None:
        return self.chat.model

    @property
    def counter(self) -> ServerCounter | None:
        return self.chat.counter

    @property
    def recalled_ids(self) -> set[str]:
        """The memories that went into the last request (the browser's "recalled")."""
        return self.chat.recalled_ids

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
        self.chat.renamed(info)

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
        self.emit(p.Notice("error", profiles.storage_problem(exc, self.readonly), request_id))

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
        if self.chat.llm is not None:
            await self.chat.llm.close()
            self.chat.llm = None

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
        self.chat.switched(opened)
        self.chat.settings = replace(self.settings, profile=request.name)
        self._opened(False, request.id)
        self.emit(p.Notice("information", f"Profile {request.name!r} is open.", request.id))

    def _configure(self, settings: Settings) -> None:
        paths = resolve_paths()
        old = self.chat.configure(settings, paths.models_file, paths.prompts_dir)
        if old is not None:
            self._spawn("", old.close())

    def _open_session(self, session: p.SessionInfo, request_id: str, focus: str = "") -> None:
        """Make ``session`` current; the UI gets its recent messages, or from ``focus`` on."""
        assert self.profile is not None
        store = self.profile.sessions
        self.chat.open(session)
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
        """Ask a local server the window it really runs the model with (a reply waits)."""
        self.chat.window = None
        if self.chat.window_unknown():
            window = self.chat.window = asyncio.create_task(self._served_window(request_id))
            self.tasks.add(window)
            window.add_done_callback(self.tasks.discard)

    async def _served_window(self, request_id: str) -> None:
        if await self.chat.learn_window(PROBE_TIMEOUT):
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
        return self.chat.client()

    # ------------------------------------------------------------ chat

    async def _send(self, request: p.SendMessage) -> None:
        async def send(turn: Turn) -> Answered | None:
            message = turn.message(request.text)  # NotSent: too long for any request
            if not await self._writable(request.id):
                raise NotSent(failures.read_only(self.readonly))
            return await turn.send(message)

        await self._turn_of(request.id, send)

    async def _resend(self, request: p.Resend) -> None:
        await self._turn_of(request.id, lambda turn: turn.resend(request.message_id))

    async def _keep_cut(self, request: p.KeepCut) -> None:
        """The worker before this one died answering a message: keep what the UI showed."""
        turn = Turn(self.chat, self._reporter(request.id))
        turn.keep_cut(request.user_message_id, request.text)

    async def _turn_of(
        self, request_id: str, run: Callable[[Turn], Awaitable[Answered | None]]
    ) -> None:
        """Run a turn on the chat service, its steps told as events; the work that follows
        a whole reply (extraction, the session's title) goes on in the background."""
        stop = self.stops[request_id] = Stop()
        try:
            answered = await run(Turn(self.chat, self._reporter(request_id), stop))
        except NotSent as exc:
            self.emit(p.ReplyFailed("", exc.error, None, request_id))
            return
        finally:
            del self.stops[request_id]
            if stop.whole:
                self.answered = {request_id: stop.whole}
        if answered is None:
            return
        if answered.learn:
            job = functools.partial(self._extract, answered, request_id)
            self._spawn(request_id, self.line.run("extract", job))
        if answered.name:
            job = functools.partial(self._title, answered)
            self._spawn(request_id, self.line.run("title", job))

    def _reporter(self, request_id: str) -> Callable[[Step], None]:
        def report(step: Step) -> None:
            self.emit(answers.step(step, request_id))

        return report

    def _cancel(self, request: p.Cancel) -> None:
        """Stop the request's work; a reply the UI was still drawing when it was already
        whole is cut to what the user saw."""
        stop = self.stops.get(request.target)
        whole = stop.whole if stop is not None else self.answered.get(request.target, "")
        if whole and request.shown >= 0:
            usage = self.chat.cut_shown(whole, request.shown) if request.shown else None
            if usage is not None:
                self.answered = {}
                if stop is not None:
                    stop.whole = ""
                self.emit(p.UsageUpdated(usage, request.id))
            return
        task = self.requests.get(request.target)
        if task is not None:
            if stop is not None:
                stop.shown = request.shown
            task.cancel()

    # ------------------------------------------------------------ memory

    async def _extract(self, answered: Answered, request_id: str) -> None:
        self.tell(await self.chat.extract(answered.user, answered.reply), request_id)

    async def _journal(self, session: p.SessionInfo, request_id: str = "") -> bool:
        return await self.chat.journal_told(session, lambda done: self.tell(done, request_id))

    async def _journal_waiting(self) -> None:
        """Sessions that ended while the model was slow or down get their entry now."""
        await self.chat.journal_waiting(lambda done: self.tell(done, ""))

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

    async def _title(self, answered: Answered) -> None:
        """Name the session after its first exchange."""
        info = await self.chat.title(answered.user, answered.reply)
        if info is not None:
            self.emit(p.SessionUpdated(info, ""))

    def memory_service(self) -> MemoryService:
        return self.chat.profile().memory

    def session_service(self) -> SessionService:
        return self.chat.profile().sessions

    def session_id(self) -> str:
        return self.session.id if self.session is not None else ""

    # ------------------------------------------------------------ usage

    def _emit_usage(self, request_id: str) -> None:
        self.emit(p.UsageUpdated(self.chat.usage(), request_id))

    def _model(self) -> ModelInfo:
        return self.chat.model_info()


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
