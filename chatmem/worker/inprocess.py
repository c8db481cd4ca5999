"""The worker in the caller's event loop: the app's tests run it so (``tests/harness.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from chatmem import protocol as p
from chatmem.worker.core import Worker


class InProcessLink:
    """Same interface as ``chatmem.ui.link.SubprocessLink``; requests handled in order."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.worker: Worker | None = None
        self._queue: asyncio.Queue[p.Request] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self, on_event: Callable[[p.Event], None]) -> None:
        self.worker = Worker(on_event, self.clock)
        self._task = asyncio.create_task(self._run())

    def send(self, request: p.Request) -> None:
        self._queue.put_nowait(request)

    async def _run(self) -> None:
        assert self.worker is not None
        while True:
            await self.worker.handle(await self._queue.get())
            self._queue.task_done()

    async def idle(self) -> None:
        """Wait until every request sent so far is handled and its replies are done."""
        assert self.worker is not None
        if self._task is None or self._task.done():  # closed: nothing will be handled
            return
        await self._queue.join()
        await self.worker.settle()

    async def close(self, timeout: float = 2.0) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.worker is not None:
            await self.worker.close()
