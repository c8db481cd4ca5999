"""The UI's end of the worker: a child process spoken to in protocol frames.

Nothing here blocks the event loop: requests are written to a pipe, events are read by a
task. The process can be spawned before Textual is even imported (``spawn_worker``), so
the worker boots while the UI paints. If it dies, the link says so with ``WorkerDown``
(naming the worker's log), starts a new one and starts it where the last one was: the
session, settings and profile the worker last reported, not the ones first asked for.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from chatmem import protocol as p

MAX_RESTARTS = 3  # within RESTART_WINDOW seconds; beyond that the worker stays down
RESTART_WINDOW = 60.0
COMMAND = [sys.executable, "-m", "chatmem.worker"]
LOG = Path("logs", "worker.log")  # under the state dir (chatmem.worker.process.log_path)


def spawn_worker() -> subprocess.Popen:
    return subprocess.Popen(
        COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )


class SubprocessLink:
    def __init__(self, process: subprocess.Popen | None = None) -> None:
        self._proc = process
        self.exit_code: int | None = None  # of the last worker process that ended
        self._writer: asyncio.WriteTransport | None = None
        self._backlog: list[bytes] = []
        self._start: p.Start | None = None  # the first, updated with what the worker reports
        self._closing = False
        self._task: asyncio.Task | None = None
        self._on_event: Callable[[p.Event], None] = lambda event: None

    @property
    def log_path(self) -> Path | None:
        return Path(self._start.settings.state_dir) / LOG if self._start else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, on_event: Callable[[p.Event], None]) -> None:
        self._on_event = on_event
        self._task = asyncio.create_task(self._run())

    def _seen(self, event: p.Event) -> None:
        """Keep the state the worker reports, to start the next one there if it dies."""
        if self._start is not None:
            match event:
                case p.SessionLoaded():
                    self._start = replace(
                        self._start, settings=event.settings, session_id=event.session.id
                    )
                case p.SettingsSaved():
                    self._start = replace(self._start, settings=event.settings)
        self._on_event(event)

    def send(self, request: p.Request) -> None:
        if isinstance(request, p.Start):
            self._start = request
        frame = p.pack(request)
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame)
        else:
            self._backlog.append(frame)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        restarts: list[float] = []
        while not self._closing:
            proc = self._proc or spawn_worker()
            self._proc = proc
            assert proc.stdin is not None and proc.stdout is not None
            reader = asyncio.StreamReader(limit=2**26)
            read_transport, _ = await loop.connect_read_pipe(
                lambda r=reader: asyncio.StreamReaderProtocol(r), proc.stdout
            )
            self._writer, _ = await loop.connect_write_pipe(asyncio.Protocol, proc.stdin)
            backlog, self._backlog = self._backlog, []
            for frame in backlog:
                self._writer.write(frame)
            try:
                while True:
                    self._seen(await p.read_frame(reader))
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            self._writer.close()
            self._writer = None
            read_transport.close()
            code = self.exit_code = await asyncio.to_thread(proc.wait)
            self._proc = None
            if self._closing:
                break
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
            logged = f"; its log is {self.log_path}" if self.log_path else ""
            if len(restarts) > MAX_RESTARTS:
                self._on_event(
                    p.WorkerDown(f"exit code {code}; it keeps failing, not restarting{logged}")
                )
                return
            self._on_event(p.WorkerDown(f"exit code {code}{logged}"))
            if self._start is not None:  # resume where the worker was
                self._backlog.insert(0, p.pack(replace(self._start, new_session=False)))

    async def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to finish (it saves and releases the store), then make sure."""
        self._closing = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self.send(p.Shutdown())
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout)
            except TimeoutError:
                proc.kill()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
