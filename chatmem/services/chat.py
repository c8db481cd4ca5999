"""The chat service — the profile open, the session the chat shows, the model it is asked
with — and the chat's records and rules: folding old turns into the summary, how an exchange
ended and the reply it leaves, the usage the sidebar shows, the session's title. The turn
itself is ``chatmem.services.turn``."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chatmem.config import Settings
from chatmem.domain.context import (
    FOLD_TOKENS,
    TITLE_TOKENS,
    Thresholds,
    TooLarge,
    clip,
    fit,
    leading,
    message_tokens,
    to_fold,
    turn_start,
    with_memory,
    with_summary,
)
from chatmem.domain.sessions import ChatMessage, SessionInfo
from chatmem.domain.tokens import REPLY_PRIMING, TokenCounter
from chatmem.domain.usage import Usage
from chatmem.llm.models import ModelInfo, ModelTable, served_window
from chatmem.llm.tokenize import ServerCounter
from chatmem.logs import register_secret
from chatmem.prompts import load_prompt
from chatmem.services.line import Line, Unusable, ask, asking
from chatmem.services.memories import Changed
from chatmem.services.profiles import OpenProfile
from chatmem.services.sessions import clean_title, fallback_title
from chatmem.store.sessions import SessionStore

if TYPE_CHECKING:
    from chatmem.llm.client import LLM, Finish

log = logging.getLogger(__name__)

SPARK_TURNS = 40  # turns in the sidebar's sparkline
PROMPTS = ("extract", "summarize", "fold", "title")  # the background tasks' instructions


@dataclass(frozen=True)
class Ending:
    """How the reply to ``user`` ended: the text that arrived, what the server said at the
    end (None: it said nothing, the stream broke or was stopped) and the prompt as counted
    here (used when the server reports no usage)."""

    user: ChatMessage
    reply_id: str
    parts: tuple[str, ...]
    finish: Finish | None
    counted_prompt: int
    status: str  # "ok": whole | "cut": what arrived before it stopped


def reply_of(ending: Ending, counter: TokenCounter, now: float) -> ChatMessage:
    """The reply message, with the server's token counts where it gave them."""
    text, finish = "".join(ending.parts), ending.finish
    prompt = ending.counted_prompt
    if finish is not None and finish.prompt_tokens is not None:
        prompt = finish.prompt_tokens
    completion = counter.count(text)
    if finish is not None and finish.completion_tokens is not None:
        completion = finish.completion_tokens
    return ChatMessage(
        id=ending.reply_id,
        role="assistant",
        content=text,
        created=now,
        tokens=counter.count_message(text),
        status=ending.status,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


@dataclass(frozen=True)
class Context:
    """What the next request would carry: the system prompt, the session's summary and the
    messages after it, the memory recalled last."""

    system: str
    summary: str
    folded: int  # messages the summary stands for
    history: list[ChatMessage]
    recalled: str


def usage_of(
    context: Context,
    model: ModelInfo,
    counter: TokenCounter,
    totals: tuple[int, int],
    last: tuple[int, int] = (0, 0),
    named: bool = True,
) -> Usage:
    """The sidebar's figures: the context against the window, the session's tokens
    (``totals``: prompt, completion) and cost, the last exchange's, the recent turns'.
    ``named``: a model is configured (else no name is shown)."""
    verbatim = context.history[context.folded :]
    try:
        fitted = fit(
            with_summary(context.system, context.summary),
            verbatim,
            counter,
            model.context_window,
            0,
            context.recalled,
        )
        tokens, sent = fitted.prompt_tokens, len(verbatim) - fitted.dropped
    except TooLarge as exc:
        tokens, sent = exc.tokens, 0
    return Usage(
        model=model.name if named else "",
        context_tokens=tokens,
        context_window=model.context_window,
        window_assumed=model.assumed,
        estimated=counter.estimated,
        counting=counter.counting,
        last_prompt=last[0],
        last_completion=last[1],
        session_prompt=totals[0],
        session_completion=totals[1],
        session_cost=model.cost(*totals),
        verbatim_messages=sent,
        summary_tokens=counter.count(context.summary) if context.summary else 0,
        summarized_messages=context.folded,
        memory_tokens=counter.count(context.recalled) if context.recalled else 0,
        turn_tokens=tuple(
            m.prompt_tokens + m.completion_tokens
            for m in context.history[-2 * SPARK_TURNS :]
            if m.role == "assistant"
        )[-SPARK_TURNS:],
    )


async def title_for(
    llm: LLM, model: str, prompt: str, exchange: tuple[ChatMessage, ChatMessage],
    counter: TokenCounter,
) -> str:  # fmt: skip
    """The model's title for a session from its first exchange; "" if it gives none."""
    user, reply = exchange  # the start of the exchange names it well enough
    said = f"User: {clip(user.content, counter, 300)}\n\nAssistant: "
    said += clip(reply.content, counter, 200)
    try:
        answer = await ask(llm, asking(prompt, said), model, TITLE_TOKENS)
    except Exception as exc:
        log.info("no title: %s", type(exc).__name__)
        return ""
    return clean_title(answer)


@dataclass(frozen=True)
class Folding:
    """The next ``count`` messages are being summarized."""

    count: int


@dataclass(frozen=True)
class Folded:
    """The summary (stored) now stands for the session's first ``folded`` messages."""

    folded: int
    summary: str


@dataclass(frozen=True)
class NotFolded:
    """The model could not summarize: the oldest messages are left out of the request."""


async def fold(
    llm: LLM,
    model: ModelInfo,
    prompt: str,
    context: Context,
    counter: TokenCounter,
    limits: Thresholds,
    store: SessionStore,
    session_id: str,
) -> AsyncIterator[Folding | Folded | NotFolded]:
    """Fold the oldest turns into the session's rolling summary while the conversation is
    past a threshold or does not fit, saying how it goes; if the model cannot do it, they are
    trimmed instead (``NotFolded``)."""
    summary, folded, history = context.summary, context.folded, context.history
    room = model.context_window - model.max_output_tokens - REPLY_PRIMING
    while True:
        left = room - counter.count_message(with_summary(context.system, summary))
        left -= counter.count(with_memory("", context.recalled)) if context.recalled else 0
        count = to_fold(history[folded:], counter, left, limits)
        if not count:
            return
        costs = [message_tokens(m, counter) for m in history[folded:]]
        end = folded + min(count, leading(costs, room // 2))
        chunk = history[folded : turn_start(history, end, folded)]
        yield Folding(len(chunk))
        transcript = "\n\n".join(
            f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in chunk
        )
        asked = asking(
            prompt, f"Summary so far:\n{summary or '(none)'}\n\nNext messages:\n{transcript}"
        )
        try:
            new = await ask(llm, asked, model.name, min(FOLD_TOKENS, room // 4))
        except Exception as exc:
            log.info("folding failed: %s", exc if isinstance(exc, Unusable) else type(exc))
            new = ""
        if not new:
            yield NotFolded()
            return
        summary, folded = new, folded + len(chunk)
        store.set_summary(session_id, summary, folded)
        yield Folded(folded, summary)


def new_message_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Totals:
    """The session's tokens so far: prompt and completion."""

    prompt: int = 0
    completion: int = 0


# ---------------------------------------------------------------- the service


@dataclass
class ChatService:
    """The chat's current state: the profile open, the session shown and its messages, the
    model it is asked with and how its tokens are counted (a ``turn.Turn`` answers on it).
    ``window``: the look-up of the server's window a reply waits for."""

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

    def configure(self, settings: Settings, models_file: Path, prompts_dir: Path) -> LLM | None:
        """Ask with these settings from now on; the client made for the old ones, if any, is
        returned for the caller to close (the new one is made on first use)."""
        for secret in (settings.api_key, urlsplit(settings.base_url).password):
            if secret:
                register_secret(secret)  # never in a log line or a message
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
        self.history = self.store().messages(session.id)
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
            summary, folded = self.store().summary(self.session.id)
        context = Context(self.system, summary, folded, self.history, self.recalled)
        totals = (self.totals.prompt, self.totals.completion)
        return usage_of(
            context, self.model_info(), self.token_counter(), totals, last, self.settings.configured
        )

    def fitting(self) -> tuple[ServerCounter, int]:
        """What background requests are fitted with: the counter and the window."""
        return self.token_counter(), self.model_info().context_window

    def window_unknown(self) -> bool:
        """A local server is asked the window it really runs the model with (a table or a
        guess knows only what the model could take); the setting, when given, wins."""
        settings = self.settings
        return settings.configured and not settings.is_openai and not settings.context_window

    async def learn_window(self, timeout: float) -> bool:
        """Ask the server its window; True if it said one and the model now has it (not if
        the settings changed meanwhile)."""
        from chatmem.llm.client import make_client

        settings, model = self.settings, self.model_info()
        async with make_client(settings, timeout=timeout) as client:
            window = await served_window(client, settings.base_url, model.name)
        if not window or self.model is not model:
            return False
        output = min(model.max_output_tokens, window // 4)
        self.model = replace(model, context_window=window, max_output_tokens=output, assumed=False)
        return True

    def cut_shown(self, reply_id: str, shown: int) -> Usage | None:
        """A reply stopped after it was whole (the UI was still drawing it): the first
        ``shown`` characters are kept, as of a reply stopped then, if it is still the last
        message and longer; the usage then."""
        reply = self.history[-1] if self.history else None
        if reply is None or reply.id != reply_id or len(reply.content) <= shown:
            return None
        text = reply.content[:shown]
        counter = self.token_counter()
        cut = replace(
            reply,
            content=text,
            status="cut",
            tokens=counter.count_message(text),
            completion_tokens=counter.count(text),
        )
        opened = self.profile()
        opened.profile.sessions.update(self.current().id, cut)
        opened.memory.replace_turn(cut)
        self.history[-1] = cut
        self.totals.completion += cut.completion_tokens - reply.completion_tokens
        return self.usage((cut.prompt_tokens, cut.completion_tokens))

    async def extract(self, user: ChatMessage, reply: ChatMessage) -> list[Changed]:
        """What the exchange taught: the memories changed."""
        return await self.profile().memory.extract(
            self.client(),
            self.model_info().name,
            self.prompts["extract"],
            (user, reply),
            self.current().id,
            self.fitting(),
        )

    async def title(self, user: ChatMessage, reply: ChatMessage) -> SessionInfo | None:
        """Name the session after its first exchange (the fallback stays if the model
        fails, or the user renamed it meanwhile); the session renamed."""
        session = self.current()
        title = await title_for(
            self.client(),
            self.model_info().name,
            self.prompts["title"],
            (user, reply),
            self.token_counter(),
        )
        opened = self.opened
        stored = opened.profile.sessions.get(session.id) if opened is not None else None
        if not title or stored is None or stored.title != fallback_title(user.content):
            return None
        assert opened is not None
        info = opened.sessions.rename(session.id, title)
        self.renamed(info)
        return info

    async def journal(self, session: SessionInfo) -> list[Changed] | None:
        """The session's journal entry written or carried on: the memories changed (None:
        not now, the model is not set or could not write it)."""
        if not self.settings.configured:
            return None
        return await self.profile().memory.summarize(
            self.client(),
            self.model_info().name,
            self.prompts["summarize"],
            session,
            self.fitting(),
        )

    async def journal_waiting(self, told: Callable[[list[Changed]], None]) -> None:
        """Sessions that ended while the model was slow or down get their entry now, each
        ``told`` as it is written."""
        memory = self.profile().memory
        await memory.ready()  # the memories are read in a thread: not here
        for session in memory.unjournaled(self.session.id if self.session else ""):
            job = functools.partial(self.journal_told, session, told)
            if not await self.line.run("journal", job):
                break

    async def journal_told(
        self, session: SessionInfo, told: Callable[[list[Changed]], None]
    ) -> bool:
        done = await self.journal(session)
        if done is not None:
            told(done)
        return done is not None

    def profile(self) -> OpenProfile:
        assert self.opened is not None
        return self.opened

    def store(self) -> SessionStore:
        return self.profile().profile.sessions

    def current(self) -> SessionInfo:
        assert self.session is not None
        return self.session

    def model_info(self) -> ModelInfo:
        assert self.model is not None
        return self.model

    def token_counter(self) -> ServerCounter:
        assert self.counter is not None
        return self.counter
