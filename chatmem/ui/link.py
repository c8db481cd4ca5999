"""The UI's end of the worker: a child process spoken to in protocol frames.

Nothing here blocks the event loop: requests are written to a pipe, events are read by a
task. The app starts the link (which spawns the process) once its first frame is on the
screen: a worker booting meanwhile would share the CPU with it. If it dies, the link says
so with ``WorkerDown`` (naming the worker's log), starts a new one and starts it where the
last one was: the session, settings and profile the worker last reported, not the ones
first asked for.
Should reading its events fail (a frame that does not unpickle, a handler that raises), the
link says so the same way and starts a new worker rather than go quiet.

The protocol is imported when the first request is sent, not to paint the first frame.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from chatmem import protocol as p

MAX_RESTARTS = 3  # within RESTART_WINDOW seconds; beyond that the worker stays down
RESTART_WINDOW = 60.0
COMMAND = [sys.executable, "-m", "chatmem.worker"]
LOG = Path("logs", "worker.log")  # under the state dir (chatmem.worker.process.log_path)
log = logging.getLogger(__name__)


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
        self._restarts: list[float] = []  # when the worker was last restarted
        self._task: asyncio.Task | None = None
        self._on_event: Callable[[p.Event], object] = lambda event: None

    @property
    def log_path(self) -> Path | None:
        return Path(self._start.settings.state_dir) / LOG if self._start else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, on_event: Callable[[p.Event], object]) -> None:
        self._on_event = on_event
        self._pump()

    def _pump(self) -> None:
        self._task = asyncio.create_task(self._run())
        self._task.add_done_callback(self._pump_stopped)

    def _pump_stopped(self, task: asyncio.Task) -> None:
        """The pump failed: say so, end the worker whose events it could not read, and start
        a new one where it was."""
        if task.cancelled() or task.exception() is None or self._closing:
            return

        error = task.exception()
        log.error("reading the worker's events failed", exc_info=error)
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()  # what it writes can no longer be trusted to be in step
            self.exit_code = proc.wait()
        reason = f"its events could not be read: {type(error).__name__}: {error}"
        if self._restart(reason):
            self._pump()

    def _restart(self, reason: str) -> bool:
        """Say why the worker stopped; whether to start another (not if it keeps failing)."""
        from chatmem import protocol as p

        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW] + [now]
        logged = f"; its log is {self.log_path}" if self.log_path else ""
        if len(self._restarts) > MAX_RESTARTS:
            self._on_event(p.WorkerDown(f"{reason}; it keeps failing, not restarting{logged}"))
            return False
        self._on_event(p.WorkerDown(f"{reason}{logged}"))
        if self._start is not None:  # resume where the worker was
            self._backlog.insert(0, p.pack(replace(self._start, new_session=False)))
        return True

    def _seen(self, event: p.Event) -> None:
        """Keep the state the worker reports, to start the next one there if it dies."""
        from chatmem import protocol as p

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
        from chatmem import protocol as p

        if isinstance(request, p.Start):
            self._start = request
        frame = p.pack(request)
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame)
        else:
            self._backlog.append(frame)

    async def _run(self) -> None:
        from chatmem import protocol as p

        loop = asyncio.get_running_loop()
        while not self._closing:
            proc = self._proc or spawn_worker()
            self._proc = proc
            assert proc.stdin is not None and proc.stdout is not None
            reader = asyncio.StreamReader(limit=2**26)
            read_transport, _ = await loop.connect_read_pipe(
                partial(asyncio.StreamReaderProtocol, reader), proc.stdout
            )
            self._writer, _ = await loop.connect_write_pipe(asyncio.Protocol, proc.stdin)
            backlog, self._backlog = self._backlog, []
            for frame in backlog:
                self._writer.write(frame)
            try:
                while True:
                    self._seen(cast("p.Event", await p.read_frame(reader)))
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                self._writer.close()
                self._writer = None
                read_transport.close()
            code = self.exit_code = await asyncio.to_thread(proc.wait)
            self._proc = None
            if self._closing or not self._restart(f"exit code {code}"):
                break

    async def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to finish (it saves and releases the store), then make sure."""
        from chatmem import protocol as p

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
