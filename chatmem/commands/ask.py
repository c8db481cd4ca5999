"""``chatmem ask``: one exchange on the chat service, in this process.

As in the app, the exchange is stored (in a new session), memory is recalled into the request
and learnt from it afterwards; the reply streams to stdout, everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from chatmem.commands.common import USAGE, Failure, warn
from chatmem.logs import redact

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from chatmem.config import Settings
    from chatmem.services.chat import ChatService
    from chatmem.services.memories import Changed
    from chatmem.services.profiles import OpenProfile
    from chatmem.services.turn import Step

PROBE_TIMEOUT = 1.5  # seconds a local server may take to say its window


def run(args: argparse.Namespace, settings: Settings, problems: list[str]) -> int:
    from chatmem.logs import setup_logging
    from chatmem.paths import resolve_paths

    question = _question(args.question)
    warn(problems)
    secrets = [settings.api_key] if settings.api_key else []
    setup_logging(resolve_paths().log_dir, "cli", secrets=secrets)  # not on the screen
    if args.no_memory:
        settings = replace(settings, memory_budget=0, embedding_model="off")
    return asyncio.run(exchange(settings, question, Printer(sys.stdout, sys.stderr)))


def _question(arg: str | None) -> str:
    """The argument, or stdin when there is none (or it is "-")."""
    if arg is None and sys.stdin.isatty():
        raise Failure("ask: give the question as an argument, or pipe it in.", USAGE)
    text = sys.stdin.read() if arg in (None, "-") else arg
    if not text.strip():
        raise Failure("ask: the question is empty.", USAGE)
    return text.strip()


class Printer:
    """A turn's steps for a terminal: the reply on ``out`` as it arrives; failures, warnings
    and what was learnt on ``err``, one line each."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.failed = False
        self._tail = ""  # the last character of the reply so far

    def __call__(self, step: Step) -> None:
        from chatmem.llm.runaway import stopped_looping
        from chatmem.services import chat, failures, turn

        match step:
            case turn.Delta(text=text) if text:
                self.write(text)
                self._tail = text[-1]
            case turn.Done():
                if self._tail != "\n":
                    self.write("\n")
            case turn.Failed(error=error):
                if self._tail not in ("", "\n"):
                    self.write("\n")
                self.fail(f"{error.title}: {error.message}")
            case turn.Unsaved():
                self.fail(step.problem)
            case turn.Looped():
                self.say(stopped_looping(step.model))
            case chat.NotFolded():
                self.say(failures.NOT_FOLDED)

    def notices(self, told: list[str]) -> None:
        for notice in told:
            self.say(notice)
        told.clear()

    def learnt(self, done: list[Changed]) -> None:
        for change in done:
            self.say(f"{change.verb} ({change.kind}): {change.title}")

    def write(self, text: str) -> None:
        """Reply text, shown at once; if the reader went away (| head) the exchange goes on
        (it is stored all the same) and the rest goes nowhere."""
        try:
            self.out.write(text)
            self.out.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.out.fileno())

    def say(self, text: str) -> None:
        print(redact(" ".join(text.split())), file=self.err, flush=True)

    def fail(self, text: str) -> None:
        self.failed = True
        self.say(text)


async def exchange(settings: Settings, question: str, printer: Printer) -> int:
    """Open the profile on a new session, ask, then do what follows a reply (extraction,
    the session's title, embeddings) and close; the exit code."""
    from chatmem.paths import resolve_paths
    from chatmem.services import profiles
    from chatmem.services.chat import ChatService
    from chatmem.services.errors import NotSent, ServiceError
    from chatmem.services.line import Line
    from chatmem.store.atomic import StoreError

    chat = ChatService(Line(1))
    paths = resolve_paths()
    chat.configure(settings, paths.models_file, paths.prompts_dir)
    try:
        opened = chat.opened = profiles.open_any(settings.data_dir, settings.profile, chat.clock)
    except ServiceError as exc:
        printer.fail(str(exc))
        return 1
    background: list[asyncio.Task] = []
    try:
        chat.open(opened.sessions.to_show(chat.clock(), new=True, readonly=bool(opened.readonly)))
        printer.notices(opened.profile.notices)  # what opening found wrong
        background.append(asyncio.create_task(_memories_read(opened, printer)))
        embedder = None
        if settings.configured and not opened.readonly:
            if settings.memory_budget:  # 0: memory is off (--no-memory)
                background.append(asyncio.create_task(chat.journal_waiting(_unsaid)))
            model = settings.effective_embedding_model
            embedding = opened.memory.keep_embedded(
                chat.client(), opened.profile.root, model, chat.line
            )
            embedder = asyncio.create_task(embedding)
            background.append(embedder)
        if chat.window_unknown():
            chat.window = asyncio.create_task(chat.learn_window(PROBE_TIMEOUT))
            background.append(chat.window)
        try:
            await _ask(chat, question, printer, opened.readonly)
        except NotSent as exc:
            printer.fail(f"{exc.error.title}: {exc.error.message}")
        except (OSError, StoreError) as exc:
            printer.fail(profiles.storage_problem(exc, opened.readonly))
        if not printer.failed:
            await asyncio.gather(*(t for t in background if t is not embedder))
            await _embedded(chat, embedder)
    except Exception:
        log.exception("chatmem ask failed")
        printer.fail("No reply came: the log in `chatmem paths` says why.")
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        opened.close()
        if chat.llm is not None:
            await chat.llm.close()
    return 1 if printer.failed else 0


async def _ask(chat: ChatService, question: str, printer: Printer, readonly: str) -> None:
    """The turn, then the work that follows a whole reply; what it learnt is printed."""
    from chatmem.services import failures
    from chatmem.services.errors import NotSent
    from chatmem.services.turn import Turn
    from chatmem.store.atomic import StoreError

    turn = Turn(chat, printer)
    message = turn.message(question)
    if readonly:
        raise NotSent(failures.read_only(readonly))
    answered = await turn.send(message)
    if answered is None:
        return
    user, reply = answered.user, answered.reply
    if answered.learn:
        try:
            learnt = await chat.line.run("extract", functools.partial(chat.extract, user, reply))
        except (OSError, StoreError):
            raise
        except Exception:  # the reply is stored: the log says what went wrong
            log.exception("learning from the exchange failed")
        else:
            printer.learnt(learnt)
    if answered.name:
        await chat.line.run("title", functools.partial(chat.title, user, reply))


async def _memories_read(opened: OpenProfile, printer: Printer) -> None:
    """The memories are read in a thread meanwhile: what their files had wrong is told."""
    await opened.memory.ready()
    printer.notices(opened.profile.notices)


async def _embedded(chat: ChatService, embedder: asyncio.Task | None) -> None:
    """Wait until every memory and message is embedded (or the embedder gave up)."""
    if embedder is None:
        return
    waiting = asyncio.ensure_future(chat.profile().memory.caught_up.wait())
    await asyncio.wait({waiting, embedder}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()


def _unsaid(done: list[Changed]) -> None:
    """Journal entries of earlier sessions: not this question's news."""
