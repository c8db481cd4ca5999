"""The UI's end of the worker: a child process spoken to in protocol frames.

Nothing here blocks the event loop: requests are written to a pipe, events are read by a
task. If the process dies, the link says so with ``WorkerDown``, starts a new one and
replays the last ``Start`` so the session resumes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import replace

from chatmem import protocol as p

MAX_RESTARTS = 3  # within RESTART_WINDOW seconds; beyond that the worker stays down
RESTART_WINDOW = 60.0


class SubprocessLink:
    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, "-m", "chatmem.worker"]
        self._proc: asyncio.subprocess.Process | None = None
        self._backlog: list[bytes] = []
        self._start: p.Start | None = None
        self._closing = False
        self._task: asyncio.Task | None = None
        self._on_event: Callable[[p.Event], None] = lambda event: None

    def start(self, on_event: Callable[[p.Event], None]) -> None:
        self._on_event = on_event
        self._task = asyncio.create_task(self._run())

    def send(self, request: p.Request) -> None:
        if isinstance(request, p.Start):
            self._start = request
        frame = p.pack(request)
        proc = self._proc
        if proc is not None and proc.stdin is not None and proc.returncode is None:
            proc.stdin.write(frame)
        else:
            self._backlog.append(frame)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def _run(self) -> None:
        restarts: list[float] = []
        while not self._closing:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                limit=2**26,
            )
            assert self._proc.stdin is not None and self._proc.stdout is not None
            backlog, self._backlog = self._backlog, []
            for frame in backlog:
                self._proc.stdin.write(frame)
            try:
                while True:
                    self._on_event(await p.read_frame(self._proc.stdout))
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            code = await self._proc.wait()
            if self._closing:
                break
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
            if len(restarts) > MAX_RESTARTS:
                self._on_event(p.WorkerDown(f"exit code {code}; it keeps failing, not restarting"))
                return
            self._on_event(p.WorkerDown(f"exit code {code}"))
            if self._start is not None:  # resume where we were, whatever was asked at start
                self._backlog.insert(0, p.pack(replace(self._start, new_session=False)))

    async def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to finish (it saves and releases the store), then make sure."""
        self._closing = True
        proc = self._proc
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            proc.stdin.write(p.pack(p.Shutdown()))
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
