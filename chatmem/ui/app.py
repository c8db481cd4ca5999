"""The Textual app: paints at once, starts the worker, renders the worker's events.

Screens are registered by name (``chatmem.ui.registry``): the chat is the base screen, the
others are installed and made when first shown. The worker's events come in as
``WorkerEvent`` messages; the app keeps what is app-wide (settings, the undoable change,
notices) and posts each event on to the screens of the stack, which handle what they show.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import events
from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.theme import Theme

from chatmem.config import Settings
from chatmem.text import clean, visible
from chatmem.ui import registry
from chatmem.ui.api import AppAPI, Link
from chatmem.ui.commands import COMMANDS
from chatmem.ui.messages import WorkerEvent
from chatmem.ui.themes import load_themes

if TYPE_CHECKING:
    from chatmem import protocol as p
    from chatmem.ui.screens.chat import ChatScreen
    from chatmem.ui.screens.memories import MemoryBrowser


SCREENS_CSS = Path(__file__).with_name("screens.tcss")  # read after the first frame


class ChatmemApp(AppAPI):
    CSS_PATH = "chatmem.tcss"  # the chat's styles
    TITLE = "chatmem"
    SCREENS = {screen.name: screen for screen in registry.SCREENS}

    def __init__(
        self,
        settings: Settings,
        *,
        link: Link | None = None,
        new_session: bool = False,
        themes: Iterable[Theme] = (),
        theme_dirs: Sequence[Path] = (),
        problems: Iterable[str] = (),
        blink: bool = True,
    ) -> None:
        """``themes`` are registered at once; those in ``theme_dirs`` after the first frame,
        all but the one to start in (and their problems are told then)."""
        if link is None:
            from chatmem.ui.link import SubprocessLink

            link = SubprocessLink()
        super().__init__(settings, link)
        self.new_session = new_session
        self.blink = blink
        self._problems = list(problems)
        self._closed = False
        self._theme_dirs = tuple(theme_dirs)
        if theme_dirs:
            first, _ = load_themes(*theme_dirs, only=settings.theme)  # told after the first frame
            themes = [*themes, *first]
        for theme in themes:
            self.register_theme(theme)
        if settings.theme in self.available_themes and settings.theme != self.theme:
            self._first_theme(settings.theme)

    def _first_theme(self, name: str) -> None:
        """The theme to start in, set as Textual's theme watcher does but without the
        reparse of every stylesheet the watcher queues (run twice before the first frame):
        no stylesheet is parsed yet, so new variables are all it needs."""
        self.set_reactive(App.theme, name)
        theme = self.current_theme
        classes = {c: False for c in self.classes if c.startswith("-theme-")}
        classes |= {f"-theme-{name}": True, "-dark-mode": theme.dark, "-light-mode": not theme.dark}
        self.update_classes(classes, update=False)
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())

    def get_default_screen(self) -> Screen:
        """The chat, at the base of the stack. (Not as a mode's screen: Textual parses every
        stylesheet again before it shows a mode's first screen.)"""
        return self.get_screen("chat")

    @property
    def chat(self) -> ChatScreen:
        return cast("ChatScreen", self.get_screen("chat"))

    @property
    def browser(self) -> MemoryBrowser:
        return cast("MemoryBrowser", self.get_screen("memories"))

    def on_mount(self) -> None:
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_chat_screen_ready(self) -> None:
        """The prompt has the keys typed so far. The rest of the start-up waits until they are
        on the screen: it is queued behind them at the prompt, then until the screen has
        painted them."""
        (self.screen.focused or self.screen).call_later(self.call_after_refresh, self._start_rest)

    def _start_rest(self) -> None:
        """What the first frame goes without: the worker (imports the protocol), the other
        screens' styles, the other themes, the notices, the keymap check, the footer's keys."""
        from chatmem import protocol as p

        if not gc.isenabled():  # the command line turned it off for the start-up
            gc.freeze()  # what the start-up made lives as long as the app: not scanned again
            gc.enable()
        # the edge where the worker's text (replies, titles, memories, files, server errors)
        # enters the UI: no control sequence passes it
        self.link.start(lambda event: self.post_message(WorkerEvent(clean(event))))
        self.start_worker(p.Start(self.settings, self.new_session))
        if self.settings.keymap:
            self.set_timer(0.3, self._check_keymap)  # it imports the screens
        self.stylesheet.read(SCREENS_CSS)  # the other screens' styles
        if len(self.screen_stack) > 1:  # a screen opened by a key typed at start: restyled
            self.refresh_css(animate=False)
        if self._theme_dirs:
            themes, problems = load_themes(*self._theme_dirs)
            for theme in themes:
                self.register_theme(theme)
            self._problems += problems
        for problem in self._problems:
            self.notify(visible(problem), severity="warning", timeout=10, markup=False)
        self.screen.refresh_bindings()  # the footer shows its keys

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if not self.blink and hasattr(event.widget, "cursor_blink"):  # any screen's, the palette's
            event.widget.cursor_blink = False

    def _check_keymap(self) -> None:
        from chatmem.ui.keymap import problems

        for problem in problems(self.settings.keymap, registry.scopes()):
            self.notify(problem, title="Keys", severity="warning", timeout=15, markup=False)

    def on_worker_event(self, message: WorkerEvent) -> None:
        self._keep(message.event)
        for screen in self.screen_stack:
            screen.post_message(WorkerEvent(message.event))

    def _keep(self, event: p.Event) -> None:
        """What the app keeps of an event, for every screen to read."""
        from chatmem import protocol as p

        match event:
            case p.SessionLoaded() | p.SettingsSaved():
                self.settings = event.settings
            case p.LocalServerFound():
                self.local = event
            case p.MemoryChanged() if event.change_id:
                self.last_change = event.change_id
            case p.Notice():
                self.notify(
                    event.text,
                    severity=event.level,  # type: ignore[arg-type]
                    timeout=10,
                    markup=False,
                )

    def action_undo_memory(self) -> None:
        from chatmem import protocol as p

        if self.last_change:
            self.send(p.Undo(self.last_change))
            self.last_change = ""
        else:
            self.notify("No memory change to undo.", timeout=3)

    def action_memories(self, memory_id: str = "") -> None:
        """Open the memory browser (at ``memory_id`` if given), or go back to the chat."""
        browser = self.browser
        if self.screen is not browser:
            self._open("memories")
        elif not memory_id:
            self.pop_screen()
        if memory_id:
            browser.select(memory_id)

    def action_sessions(self) -> None:
        """Open the sessions screen, or go back to the chat."""
        self._toggle("sessions")

    def action_stats(self) -> None:
        self._toggle("stats")

    def _toggle(self, name: str) -> None:
        """Show the registered screen ``name``, or go back to the chat if it is shown."""
        if self.screen is self.get_screen(name):
            self.pop_screen()
        else:
            self._open(name)

    def _open(self, name: str) -> None:
        """Show a registered screen over the chat (closing any other one first)."""
        self._to_chat()
        self.push_screen(name)

    def action_help(self) -> None:
        if self.screen is not self.get_screen("help"):
            self.push_screen("help")

    def action_new_session(self) -> None:
        from chatmem import protocol as p

        self.send(p.EndSession())
        self._to_chat()

    def action_remember(self, text: str = "") -> None:
        from chatmem import protocol as p

        if text:
            self.send(p.Remember(text))
        else:
            self._ask("Remember (as you say it):", lambda said: self.send(p.Remember(said)))

    def action_forget(self, text: str = "") -> None:
        from chatmem import protocol as p

        if text:
            self.send(p.Forget(text))
        else:
            self._ask(
                "Forget the memory with this id, or the one that best matches these words:",
                lambda said: self.send(p.Forget(said)),
            )

    def action_model(self, name: str = "") -> None:
        from chatmem import protocol as p

        if name:
            self.send(p.SaveSettings({"model": name}))
            return
        from chatmem.ui.screens.pickers import ModelPicker

        def chosen(model: str | None) -> None:
            if model:
                self.send(p.SaveSettings({"model": model}))

        self.push_screen(ModelPicker(self.settings), chosen)

    def action_theme(self, name: str = "") -> None:
        if not name:
            self.search_themes()
        elif name in self.available_themes:
            self.theme = name  # saved by _theme_changed
        else:
            known = ", ".join(sorted(self.available_themes))
            self.notify(f"No theme {name!r}. Themes: {known}", severity="warning", markup=False)

    def action_export(self, path: str = "") -> None:
        from chatmem import protocol as p
        from chatmem.ui.screens.sessions import file_name

        session_id, title = self.chat.session_id, self.chat.title or ""
        if path:
            self.send(p.ExportSession(session_id, path))
            return
        self._ask(
            "Export this conversation to the file (Markdown, or JSON if it ends in .json):",
            lambda chosen: self.send(p.ExportSession(session_id, chosen)),
            file_name(title if title != "chatmem" else "", "md"),
        )

    def action_copy(self) -> None:
        from chatmem.ui.screens.pickers import CopyPicker, copyable

        items = copyable([view.message for view in self.chat.transcript.views])
        if not items:
            self.notify("Nothing to copy yet.", timeout=3)
            return

        def chosen(text: str | None) -> None:
            if text is not None:
                self.copy_to_clipboard(text)
                self.notify(f"Copied {len(text):,} characters to the clipboard.", timeout=3)

        self.push_screen(CopyPicker(items), chosen)

    def _ask(self, question: str, then, value: str = "") -> None:
        from chatmem.ui.screens.forms import Ask

        def answered(text: str | None) -> None:
            if text:
                then(text)

        self.push_screen(Ask(question, value), answered)

    def _to_chat(self) -> None:
        while len(self.screen_stack) > 1 and self.screen is not self.chat:
            self.pop_screen()

    # ------------------------------------------------------------ palette and slash commands

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in COMMANDS:
            yield SystemCommand(command.title, command.help, partial(self.run_command, command))
        ours = {c.title for c in COMMANDS}
        for system in super().get_system_commands(screen):
            if system.title not in ours:
                yield system

    def action_settings(self) -> None:
        from chatmem.ui.screens.settings import SettingsScreen  # not needed for the first paint

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen(self.settings, self.local))

    def _theme_changed(self, theme: Theme) -> None:
        from chatmem import protocol as p

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
