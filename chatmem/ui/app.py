"""The Textual app: paints at once, starts the worker, renders the worker's events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.theme import Theme

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.ui.screens.chat import ChatScreen

if TYPE_CHECKING:
    from chatmem.ui.screens.memories import MemoryBrowser
    from chatmem.ui.screens.sessions import SessionsScreen


class Link(Protocol):
    def start(self, on_event) -> None: ...
    def send(self, request: p.Request) -> None: ...
    async def close(self, timeout: float = 2.0) -> None: ...


class WorkerEvent(Message):
    """A protocol event, delivered through Textual's message queue."""

    def __init__(self, event: p.Event) -> None:
        super().__init__()
        self.event = event


class ChatmemApp(App[None]):
    CSS_PATH = "chatmem.tcss"
    TITLE = "chatmem"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f3", "memories", "Memories"),
        Binding("f5", "sessions", "Sessions"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        link: Link | None = None,
        new_session: bool = False,
        themes: Iterable[Theme] = (),
        problems: Iterable[str] = (),
        blink: bool = True,
    ) -> None:
        super().__init__()
        if link is None:
            from chatmem.ui.link import SubprocessLink

            link = SubprocessLink()
        self.settings = settings
        self.link = link
        self.new_session = new_session
        self.blink = blink
        self.local: p.LocalServerFound | None = None
        self.chat = ChatScreen()
        self.browser: MemoryBrowser | None = None  # made when first opened, then kept
        self.sessions: SessionsScreen | None = None  # likewise
        self.last_change = ""  # the memory change F4 (u in the browser) takes back
        self._problems = list(problems)
        self._closed = False
        for theme in themes:
            self.register_theme(theme)
        if settings.theme in self.available_themes:
            self.theme = settings.theme

    def on_mount(self) -> None:
        self.push_screen(self.chat)
        self.link.start(lambda event: self.post_message(WorkerEvent(event)))
        self.send(p.Start(self.settings, self.new_session))
        for problem in self._problems:
            self.notify(problem, severity="warning", timeout=10)
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def send(self, request: p.Request) -> None:
        self.link.send(request)

    async def on_worker_event(self, message: WorkerEvent) -> None:
        event = message.event
        match event:
            case p.SessionLoaded() if event.settings.profile != self.settings.profile:
                self.settings = event.settings
                if self._shown(self.browser):
                    self.browser.refresh_list()  # another profile: other memories
            case p.SessionLoaded() | p.SettingsSaved():
                self.settings = event.settings
            case p.LocalServerFound():
                self.local = event
            case p.ModelsListed():
                if hasattr(self.screen, "models_listed"):  # the settings screen is open
                    self.screen.models_listed(event)
                return
            case p.Notice():
                self.notify(event.text, severity=event.level, timeout=10)  # type: ignore[arg-type]
                return
            case p.MemoryList() | p.MemoryShown() | p.MemoryInvalid():
                if self._shown(self.browser):
                    self.browser.handle(event)
                return
            case p.MemoryChanged():
                if event.change_id:
                    self.last_change = event.change_id
                if self._shown(self.browser):
                    self.browser.handle(event)
            case p.SessionList() | p.SearchResults():
                if self._shown(self.sessions):
                    self.sessions.handle(event)
                return
        await self.chat.handle(event)

    @staticmethod
    def _shown(screen: Screen | None) -> bool:
        return screen is not None and screen.is_mounted

    def action_undo_memory(self) -> None:
        if self.last_change:
            self.send(p.Undo(self.last_change))
            self.last_change = ""
        else:
            self.notify("No memory change to undo.", timeout=3)

    def action_memories(self, memory_id: str = "") -> None:
        """Open the memory browser (at ``memory_id`` if given), or go back to the chat."""
        if self.browser is None:
            from chatmem.ui.screens.memories import MemoryBrowser

            self.browser = MemoryBrowser()
            self.install_screen(self.browser, "memories")
        if self.screen is not self.browser:
            self._open("memories")
        elif not memory_id:
            self.pop_screen()
        if memory_id:
            self.browser.select(memory_id)

    def action_sessions(self) -> None:
        """Open the sessions screen, or go back to the chat."""
        if self.sessions is None:
            from chatmem.ui.screens.sessions import SessionsScreen

            self.sessions = SessionsScreen()
            self.install_screen(self.sessions, "sessions")
        if self.screen is self.sessions:
            self.pop_screen()
            return
        if self.sessions.is_mounted:
            self.sessions.refresh_list()
        self._open("sessions")

    def _open(self, name: str) -> None:
        """Show an installed screen over the chat (closing any other one first)."""
        while len(self.screen_stack) > 1 and self.screen is not self.chat:
            self.pop_screen()
        self.push_screen(name)

    def action_settings(self) -> None:
        from chatmem.ui.screens.settings import SettingsScreen  # not needed for the first paint

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen(self.settings, self.local))

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name != self.settings.theme:
            self.send(p.SaveSettings({"theme": theme.name}))

    async def action_quit(self) -> None:
        await self._close_link()
        self.exit()

    async def on_unmount(self) -> None:
        await self._close_link()

    async def _close_link(self) -> None:
        if not self._closed:
            self._closed = True
            await self.link.close()
