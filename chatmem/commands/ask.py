"""``chatmem ask``: one exchange on the worker's own logic, in this process.

As in the app, the exchange is stored (in a new session), memory is recalled into the request
and learnt from it afterwards; the reply streams to stdout, everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from chatmem import protocol as p
from chatmem.commands.common import USAGE, Failure, warn
from chatmem.logs import redact

if TYPE_CHECKING:
    from chatmem.config import Settings


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
    """The worker's events for a terminal: the reply on ``out`` as it arrives, failures,
    warnings and what was learnt on ``err``, one line each."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.request_id = ""  # the question's: the memory changes it made are reported
        self.failed = False
        self.answered = asyncio.Event()  # the reply is done, or failed
        self._tail = ""  # the last character of the reply so far

    def __call__(self, event: p.Event) -> None:
        match event:
            case p.ReplyDelta(text=text) if text:
                self.write(text)
                self._tail = text[-1]
            case p.ReplyDone():
                if self._tail != "\n":
                    self.write("\n")
                self.answered.set()
            case p.ReplyFailed(error=error):
                if self._tail not in ("", "\n"):
                    self.write("\n")
                self.fail(f"{error.title}: {error.message}")
            case p.Notice(level="error", text=text):
                self.fail(text)
            case p.Notice(level="warning", text=text):
                self.say(text)
            case p.MemoryChanged() if self.request_id and event.request_id == self.request_id:
                self.say(f"{event.verb} ({event.kind}): {event.title}")

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
        self.answered.set()


async def exchange(settings: Settings, question: str, printer: Printer) -> int:
    """Start on a new session, ask, wait for the reply and what follows it (extraction, the
    session's title, embeddings), close; the exit code."""
    from chatmem.worker.core import Worker

    worker = Worker(printer)
    try:
        await worker.handle(p.Start(settings, new_session=True))
        if printer.failed:
            return 1
        send = p.SendMessage(question)
        printer.request_id = send.id
        await worker.handle(send)
        answered = asyncio.ensure_future(printer.answered.wait())
        settled = asyncio.ensure_future(worker.settle())
        try:
            await asyncio.wait({answered, settled}, return_when=asyncio.FIRST_COMPLETED)
            if not printer.failed:
                await settled
        finally:
            answered.cancel()
            settled.cancel()
        if not printer.answered.is_set():  # the reply task died without a word: a bug
            printer.fail("No reply came: the log in `chatmem paths` says why.")
    finally:
        await worker.close()
    return 1 if printer.failed else 0
