"""The worker process: requests arrive as frames on stdin, events leave on stdout."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from pathlib import Path

from chatmem import protocol as p
from chatmem.logs import setup_logging
from chatmem.paths import resolve_paths
from chatmem.worker.core import Worker

log = logging.getLogger(__name__)
LOG_NAME = "worker"


def log_path(state_dir: str | Path) -> Path:
    """Where the worker logs, crashes included."""
    return Path(state_dir) / "logs" / f"{LOG_NAME}.log"


async def serve(out_fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, _ = await loop.connect_write_pipe(
        asyncio.Protocol, os.fdopen(out_fd, "wb", buffering=0)
    )
    worker = Worker(emit=lambda event: transport.write(p.pack(event)))
    while True:
        try:
            request = await p.read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            break  # the UI is gone
        if not isinstance(request, p.Request):
            log.error("not a request, ignored: %s", type(request).__name__)
            continue
        if isinstance(request, p.Start):
            _log_to(Path(request.settings.state_dir), request.settings.api_key)
        try:
            await worker.handle(request)
        except Exception as exc:  # a bug: logged and told, and the worker carries on
            log.exception("%s failed", type(request).__name__)
            where = log_path(worker.settings.state_dir or resolve_paths().state_dir)
            worker.emit(
                p.Notice(
                    "error",
                    f"Something failed in the worker ({type(exc).__name__}); "
                    f"the details are in {where}.",
                    request.id,
                )
            )
        if isinstance(request, p.Shutdown):
            break
    await worker.close()
    transport.close()


def _log_to(state_dir: Path, api_key: str = "") -> None:
    """Log to the state dir through the redacting handler."""
    setup_logging(state_dir / "logs", LOG_NAME, secrets=[api_key] if api_key else [])


class _ToLog(io.TextIOBase):
    """Stands in for stderr: what Python writes there becomes (redacted) log lines."""

    def __init__(self) -> None:
        self._line = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._line = (self._line + text).split("\n")
        for line in lines:
            logging.getLogger("stderr").warning("%s", line)
        return len(text)


def main() -> None:
    out_fd = os.dup(1)  # the protocol pipe; fd 1 itself goes nowhere, so a stray print is harmless
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    _log_to(resolve_paths().state_dir)  # from the first instant: a crash before Start too
    sys.stderr = _ToLog()
    try:
        asyncio.run(serve(out_fd))
    except KeyboardInterrupt:
        pass
    except Exception:
        log.critical("the worker crashed", exc_info=True)
        sys.exit(1)
