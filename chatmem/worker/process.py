"""The worker process: requests arrive as frames on stdin, events leave on stdout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

from chatmem import protocol as p
from chatmem.logs import setup_logging
from chatmem.worker.core import Worker

log = logging.getLogger(__name__)


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
        if isinstance(request, p.Start):
            _log_to(Path(request.settings.state_dir), request.settings.api_key)
        await worker.handle(request)
        if isinstance(request, p.Shutdown):
            break
    await worker.close()
    transport.close()


def _log_to(state_dir: Path, api_key: str) -> None:
    """Log to the state dir through the redacting handler (stderr goes nowhere)."""
    setup_logging(state_dir / "logs", "worker", secrets=[api_key] if api_key else [])


def main() -> None:
    out_fd = os.dup(1)  # the protocol pipe; fd 1 itself goes nowhere, so a stray print is harmless
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(out_fd))


if __name__ == "__main__":
    main()
