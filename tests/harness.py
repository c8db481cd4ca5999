"""Drive the worker in-process and collect its events."""

from __future__ import annotations

from typing import TypeVar

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.worker.core import Worker

E = TypeVar("E")

FIXED_TIME = 1_790_000_000.0  # a fixed clock: nothing time-dependent in stored data or screens


class WorkerHarness:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events: list[p.Event] = []
        self.worker = Worker(self.events.append, clock=lambda: FIXED_TIME)

    async def request(self, request: p.Request) -> None:
        """Handle one request and wait for everything it started."""
        await self.worker.handle(request)
        await self.settle()

    async def settle(self) -> None:
        await self.worker.settle()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def last(self, kind: type[E]) -> E:
        found = self.of(kind)
        assert found, f"no {kind.__name__} among {[type(e).__name__ for e in self.events]}"
        return found[-1]

    async def close(self) -> None:
        await self.worker.close()


def make_app(settings: Settings, **kwargs):
    """The real app on an in-process worker, a fixed clock, no cursor blink, shipped themes."""
    from chatmem.paths import resource_dir
    from chatmem.ui.app import ChatmemApp
    from chatmem.ui.themes import load_themes
    from chatmem.worker.inprocess import InProcessLink

    themes, _ = load_themes(resource_dir("themes"))
    link = InProcessLink(clock=lambda: FIXED_TIME)
    kwargs.setdefault("blink", False)
    return ChatmemApp(settings, link=link, themes=themes, **kwargs)


async def settle(pilot) -> None:
    """Wait until the worker has handled everything and the UI has rendered its events."""
    await pilot.app.started.wait()  # the worker is started after the first frame
    link = pilot.app.link
    for _ in range(3):
        await link.idle()
        await pilot.pause()
