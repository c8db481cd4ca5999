"""The app's screens by name. Textual's ``SCREENS`` and ``MODES`` are made from this table,
and the help screen and the keymap check read each screen's keys from it. A screen's module
is imported when the screen is first shown (or its keys are first listed), not to paint the
chat."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.binding import Binding
    from textual.screen import Screen


@dataclass(frozen=True)
class Registered:
    """A screen installed in the app under ``name``; called, it makes the screen."""

    name: str
    title: str  # as the help screen names it: "On the memory browser screen"
    path: str  # "module:Class"

    def load(self) -> type[Screen]:
        module, _, cls = self.path.partition(":")
        return getattr(import_module(module), cls)

    def __call__(self) -> Screen:
        return self.load()()


SCREENS: tuple[Registered, ...] = (
    Registered("chat", "chat", "chatmem.ui.screens.chat:ChatScreen"),
    Registered("memories", "memory browser", "chatmem.ui.screens.memories:MemoryBrowser"),
    Registered("sessions", "sessions", "chatmem.ui.screens.sessions:SessionsScreen"),
    Registered("stats", "stats", "chatmem.ui.screens.stats:StatsScreen"),
    Registered("help", "help", "chatmem.ui.screens.help:HelpScreen"),
)


def scopes() -> dict[str, list[Binding]]:
    """Each registered screen's bindings after the app's, by the screen's title, as the
    keymap sees them; screens with no binding ``[keymap]`` can remap are left out."""
    from textual.binding import Binding

    from chatmem.ui.commands import app_bindings

    app = [b for b in app_bindings() if isinstance(b, Binding)]
    found = {}
    for screen in SCREENS:
        own = [b for b in screen.load().BINDINGS if isinstance(b, Binding)]
        if any(b.id for b in own):
            found[screen.title] = app + own
    return found
