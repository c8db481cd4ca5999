"""What the screens may ask of the app: the state it keeps and its way to the worker.

``chatmem.ui.app.ChatmemApp`` builds on it; the screens type ``self.app`` as this class, so
no screen imports the app module (which opens the screens).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from chatmem.config import Settings
from chatmem.ui.commands import Command, app_bindings
from chatmem.ui.keymap import key_names

if TYPE_CHECKING:
    from chatmem import protocol as p


class Link(Protocol):
    def start(self, on_event: Callable[[p.Event], object]) -> None: ...
    def send(self, request: p.Request) -> None: ...
    async def close(self, timeout: float = 2.0) -> None: ...


class AppAPI(App[None]):
    BINDINGS = app_bindings()

    def __init__(self, settings: Settings, link: Link) -> None:
        super().__init__()
        self.settings = settings  # as the worker last reported them
        self.link = link
        self.local: p.LocalServerFound | None = None
        self.last_change = ""  # the memory change F4 (u in the browser) takes back
        # Set when the start-up goes on past the first frame and the keys typed meanwhile:
        # the worker is started, the footer builds its keys.
        self.started = asyncio.Event()
        self._waiting: list[p.Request] = []  # asked before the worker was started
        self._early_keys: list[events.Key] | None = []  # None once the prompt takes keys

    async def on_event(self, event: events.Event) -> None:
        """Keys typed before the prompt can take them wait for it, in order."""
        if self._early_keys is not None and isinstance(event, events.Key):
            self._early_keys.append(event)
            return
        await super().on_event(event)

    async def release_keys(self) -> None:
        """The prompt has the focus: the keys typed so far go to it (the chat screen calls
        this as it mounts, to have them in its first frame). An Enter typed before the
        terminal left line mode arrives as a newline (Ctrl+J): it sends, as it meant."""
        keys, self._early_keys = self._early_keys or [], None
        for key in keys:
            await super().on_event(events.Key("enter", "\r") if key.key == "ctrl+j" else key)

    def send(self, request: p.Request) -> None:
        """Ask the worker; its answer comes back as a ``WorkerEvent``. What is asked before
        the worker is started (keys typed at once) is sent after its ``Start``."""
        if self.started.is_set():
            self.link.send(request)
        else:
            self._waiting.append(request)

    def start_worker(self, start: p.Start) -> None:
        """Send ``start`` first, then what was asked meanwhile."""
        self.link.send(start)
        self.started.set()
        waiting, self._waiting = self._waiting, []
        for request in waiting:
            self.link.send(request)

    def keys_for(self, screen: Screen) -> dict[str, str]:
        """Binding id → its key as prose names it ("F4", "Ctrl+R"), for the app's bindings
        and ``screen``'s as the keymap left them: the keys the hints in the text name."""
        bindings = [b for b in [*self.BINDINGS, *screen.BINDINGS] if isinstance(b, Binding)]
        return key_names(bindings, self.settings.keymap)

    def run_command(self, command: Command, arg: str = "") -> None:
        """Run a command of the table (a slash command's with its argument) on the app's own
        message loop, not inside the handler of the screen that asked."""
        action = getattr(self, f"action_{command.action}")
        self.call_later(action, *([arg] if command.arg else []))
