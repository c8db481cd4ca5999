"""The line to the model server: the user's reply first, bounded background work around it.

A server such as llama.cpp computes one request at a time (and ends a running stream when
another one waits), so background jobs (journal, extraction, title, embeddings) run only
while the line has room, are cancelled — their request aborted — the moment the user sends,
and start again from scratch once the reply is done. Nothing is retried on a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from chatmem.domain.context import looping

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

T = TypeVar("T")


class Unusable(ValueError):
    """A background answer that ran to its limit or loops: discarded, never stored."""


def asking(instructions: str, text: str) -> list[dict[str, str]]:
    """A background request: the task's instructions, then the text to work on."""
    return [{"role": "system", "content": instructions}, {"role": "user", "content": text}]


async def ask(llm: LLM, messages: list[dict[str, str]], model: str, max_tokens: int) -> str:
    """One bounded background answer, stripped; ``Unusable`` if it is cut or repeats itself."""
    from chatmem.llm.client import Overrun

    try:
        text = (await llm.complete(messages, model, max_tokens)).strip()
    except Overrun as exc:
        raise Unusable(str(exc)) from None
    if looping(text):
        raise Unusable("the answer repeats itself")
    return text


class Line:
    """At most ``width`` requests at once; replies take their place from background jobs."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._replies = 0
        self._jobs: dict[asyncio.Task, str] = {}  # running background jobs and their kinds
        self._preempted: set[asyncio.Task] = set()
        self._changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def reply(self) -> AsyncIterator[None]:
        """The user's reply: it waits for nothing; background jobs over the width stop."""
        self._replies += 1
        over = len(self._jobs) + self._replies - max(self.width, 1)
        for task in list(self._jobs)[::-1][: max(over, 0)]:
            log.info("%s stopped for the reply; it runs again later", self._jobs[task])
            self._preempted.add(task)
            task.cancel()
        try:
            yield
        finally:
            self._replies -= 1
            self._wake()

    async def run(self, kind: str, job: Callable[[], Awaitable[T]]) -> T:
        """Run ``job()`` when the line has room; again from the start if a reply stopped it."""
        while True:
            while self._replies + len(self._jobs) >= max(self.width, 1):
                await self._wait()
            task = asyncio.ensure_future(job())
            self._jobs[task] = kind
            try:
                return await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if task not in self._preempted or (current and current.cancelling()):
                    raise
            finally:
                del self._jobs[task]
                self._preempted.discard(task)
                self._wake()

    async def _wait(self) -> None:
        changed = self._changed
        await changed.wait()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
