"""The chat screen: messages, the prompt, the error banner and the usage sidebar."""

from __future__ import annotations

import threading
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from textual import events, getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Collapsible, Header, OptionList, Static
from textual.widgets.option_list import Option

from chatmem.ui import commands
from chatmem.ui.collector import Collector
from chatmem.ui.messages import WorkerEvent
from chatmem.ui.widgets.banner import Banner
from chatmem.ui.widgets.footer import Footer
from chatmem.ui.widgets.prompt import PromptInput
from chatmem.ui.widgets.sidebar import Sidebar
from chatmem.ui.widgets.transcript import Transcript

if TYPE_CHECKING:
    from chatmem import protocol as p
    from chatmem.config import Settings
    from chatmem.ui.api import AppAPI
    from chatmem.ui.widgets.message import MessageView


def _subtitle(settings: Settings) -> str:
    """The model, and the profile unless it is the default one."""
    model = settings.effective_model if settings.configured else "no model set"
    return model if settings.profile == "default" else f"{model} · profile {settings.profile}"


def _warm_markdown() -> None:
    """Import the reply widgets and prime the highlighter (the commonest lexer): Python
    switches threads during imports, so keys are still handled meanwhile."""
    from textual.highlight import highlight

    import chatmem.ui.widgets.message  # noqa: F401

    highlight("def f(x):\n    return x", language="python")


class ChatScreen(Screen):
    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    class Ready(Message):
        """The prompt has the focus and the keys typed before it had."""

    BINDINGS = [
        Binding("escape", "cancel", "Stop reply", show=False, id="stop_reply"),
        Binding("ctrl+r", "resend", "Resend", id="resend"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="sidebar"),
        # the editor would take them: the transcript scrolls while the prompt has the focus
        Binding("pageup", "scroll_transcript('up')", "Page up", show=False, priority=True),
        Binding("pagedown", "scroll_transcript('down')", "Page down", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.inflight: str | None = None  # request id of the reply being streamed
        self.streaming: MessageView | None = None
        self.drawing: tuple[str, MessageView] | None = None  # a reply done, maybe still drawn
        self.failed_id: str | None = None  # the user message the resend key resends
        self.unsent = ""  # text of the last SendMessage, until the worker stored it
        self.asked = ""  # the user message being answered, until its reply is done or failed
        self.arrived: list[str] = []  # what was shown of that reply so far
        self.readonly = ""  # why the profile is read-only, shown in the banner
        self.session_id = ""
        self.has_older = False
        self.loading_older = ""  # the LoadOlder on its way: answers to any other are stale
        self.has_newer = False  # opened at an older message (a search hit, a memory's source)
        self.loading_newer = ""
        self.configured = True
        self.local_hint = ""
        self.collector = Collector()
        self.folded: tuple[int, str] = (0, "")  # what the divider shows when not summarizing
        self._rest_mounted = False

    @cached_property
    def keys(self) -> dict[str, str]:
        """Binding id → key name as the keymap left it, for the hints in the text."""
        return self.app.keys_for(self)

    def compose(self) -> ComposeResult:
        """The shell and the prompt; the summary divider and the sidebar follow the first
        frame (``_mount_rest``)."""
        yield Header(icon="◆")
        with Horizontal(id="shell"), Vertical(id="chat"):
            yield Transcript(id="messages")
            yield Banner(id="banner")
            yield OptionList(id="slash-menu")
            yield PromptInput(id="prompt", placeholder="Message…  (Enter sends, Ctrl+J new line)")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(Banner).hide()
        self.query_one("#slash-menu").display = False
        self.transcript = self.query_one(Transcript)
        self.watch(self.transcript, "scroll_y", self._maybe_load_more, init=False)
        self.set_focus(self.query_one(PromptInput))  # now: the keys typed so far go to it,
        await self.app.release_keys()  # in time for the first frame
        self.post_message(self.Ready())
        self.call_after_refresh(self._mount_rest)
        self.set_timer(0.5, self._warm_up)

    async def _mount_rest(self) -> None:
        """The summary divider and the sidebar, once: after the first frame, or when an
        event needs them first."""
        if self._rest_mounted:
            return
        self._rest_mounted = True
        folded = Collapsible(Static("", id="summary"), id="folded", title="", collapsed=True)
        folded.display = False
        await self.query_one("#chat").mount(folded, before=self.transcript)
        await self.query_one("#shell").mount(Sidebar(id="sidebar"))

    def _view(self, message: p.ChatMessage, streaming: bool = False) -> MessageView:
        # Imported on first use: the Markdown widget is not needed to paint the first frame.
        from chatmem.ui.widgets.message import MessageView

        return MessageView(message, self.keys, streaming)

    def _warm_up(self) -> None:
        # while idle, not when the first reply lands
        threading.Thread(target=_warm_markdown, name="warm-up", daemon=True).start()
        self.collector.started()

    # ------------------------------------------------------------ user actions

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        from chatmem import protocol as p

        prompt = self.query_one(PromptInput)
        slash = commands.parse(event.text)
        if slash.unknown:  # nothing is sent; the text goes back to be corrected
            prompt.give_back(event.text)
            self.notify(
                f"There is no command {slash.unknown}. Type / to see them "
                "(start with // to send a message that begins with /).",
                severity="warning",
                markup=False,
            )
            return
        if slash.command is not None:
            self._complete([])
            self.app.run_command(slash.command, slash.arg)
            return
        text = event.text.strip()[1:] if event.text.strip().startswith("//") else event.text
        if self.inflight is not None:
            prompt.give_back(event.text)
            stop = self.keys["stop_reply"]
            self.notify(
                f"A reply is still coming: wait, or press {stop} to stop it.", severity="warning"
            )
            return
        if self.has_newer:  # back to the end of the conversation first, where it goes on
            self.app.send(p.OpenSession(self.session_id))
        self.unsent = text
        self.app.send(p.SendMessage(text))

    # ------------------------------------------------------------ slash-command menu

    def on_text_area_changed(self, event: PromptInput.Changed) -> None:
        document = event.text_area.document  # a command is one line: no copy of a long text
        self._complete(commands.completions(document[0] if document.line_count == 1 else ""))

    def _complete(self, matches: list[tuple[str, commands.Command]]) -> None:
        menu = self.query_one("#slash-menu", OptionList)
        menu.display = bool(matches)
        self.query_one(PromptInput).menu_open = bool(matches)
        if not matches:
            return
        width = max(len(name) + len(c.arg) for name, c in matches) + 2
        menu.set_options(
            Option(
                Content.assemble((f"{name} {c.arg}".ljust(width), "bold"), (c.help, "dim")),
                id=name,
            )
            for name, c in matches
        )
        menu.highlighted = 0

    def on_prompt_input_menu_key(self, event: PromptInput.MenuKey) -> None:
        menu = self.query_one("#slash-menu", OptionList)
        prompt = self.query_one(PromptInput)
        if prompt.text != event.text:
            return  # typed on since: the menu's choice would replace that text
        matches = commands.completions(event.text)
        if [name for name, _ in matches] != [option.id for option in menu.options]:
            self._complete(matches)  # the menu had not caught up with the keys yet
        if event.key == "escape":
            self._complete([])
        elif event.key in ("up", "down"):
            menu.action_cursor_up() if event.key == "up" else menu.action_cursor_down()
        elif menu.highlighted is not None:
            name = menu.get_option_at_index(menu.highlighted).id or ""
            typed = prompt.text.strip().lower()
            if event.key == "tab" or (commands.BY_SLASH[name].needs_arg and typed != name):
                prompt.load_text(f"{name} ")
                prompt.move_cursor(prompt.document.end)
            else:  # (the text is the menu's, checked above: nothing typed since is lost)
                prompt.clear()
                prompt.post_message(PromptInput.Submitted(name))

    def action_cancel(self) -> None:
        """Stop the reply at once, where it is on screen: the worker keeps what was shown,
        also of a reply it had whole while the screen was still drawing it."""
        from chatmem import protocol as p

        target, view = self.inflight, self.streaming
        if target is None and self.drawing is not None and self.drawing[1].rendering:
            target, view = self.drawing
        if target is not None:
            self.app.send(p.Cancel(target, view.stop() if view is not None else -1))

    def action_resend(self) -> None:
        from chatmem import protocol as p

        if self.failed_id is None:
            self.notify("Nothing to resend.")
            return
        if self.inflight is not None:
            return
        self.query_one(Banner).hide()
        self._set_status(self.failed_id, "ok")
        self.asked = self.failed_id
        self.app.send(p.Resend(self.failed_id))

    def action_scroll_transcript(self, direction: str) -> None:
        if direction == "up":
            self.transcript.scroll_page_up(animate=False)
        else:
            self.transcript.scroll_page_down(animate=False)

    def on_key(self, event: events.Key) -> None:
        """Typing while the transcript has the focus goes on in the prompt."""
        if self.focused is self.transcript and event.is_printable and event.character:
            prompt = self.query_one(PromptInput)
            prompt.focus()
            prompt.insert(event.character)
            event.stop()

    async def action_toggle_sidebar(self) -> None:
        await self._mount_rest()
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display

    def _fill(self) -> None:
        """Load more when what is shown does not reach an edge the user could scroll to:
        no scroll happens then to ask for it."""
        self._maybe_load_more(self.transcript.scroll_y)

    def _maybe_load_more(self, scroll_y: float) -> None:
        from chatmem import protocol as p

        views = self.transcript.views
        if not views:
            return
        scroll_y = max(scroll_y, 0)  # below 0 while what is shown is shorter than the view
        if scroll_y <= 0 and self.has_older and not self.loading_older:
            older = p.LoadOlder(views[0].message.id)
            self.loading_older = older.id
            self.app.send(older)
        if scroll_y < self.transcript.max_scroll_y - 1:
            return
        if self.has_newer and not self.loading_newer:
            newer = p.LoadNewer(views[-1].message.id)
            self.loading_newer = newer.id
            self.app.send(newer)
        elif not self.has_newer and not self.transcript.is_anchored:
            self.transcript.anchor()  # at the end again: follow new replies

    # ------------------------------------------------------------ worker events

    async def on_worker_event(self, message: WorkerEvent) -> None:
        from chatmem import protocol as p

        await self._mount_rest()
        event = message.event
        match event:
            case p.SessionLoaded():
                await self._load(event)
            case p.MessageSaved():
                if event.message.role == "user":
                    self.unsent, self.asked = "", event.message.id
                await self._append(self._view(event.message))
            case p.ReplyStarted():
                self._show_folded(*self.folded)  # no longer "Summarizing…"
                self.collector.reply_started()
                self.inflight = event.request_id
                self.arrived = []
                placeholder = p.ChatMessage(event.message_id, "assistant", "", 0.0)
                self.streaming = self._view(placeholder, streaming=True)
                await self._append(self.streaming)
            case p.ReplyDelta():
                if self.streaming is not None:
                    self.arrived.append(event.text)
                    self.streaming.write(event.text)
            case p.ReplyDone():
                self.asked = ""
                await self._done(event.message)
                self.failed_id = None
                self.query_one(Banner).hide()
            case p.ReplyFailed():
                await self._failed(event)
            case p.UsageUpdated():
                self.query_one(Sidebar).show(event.usage)
            case p.RecallUsed():
                self.query_one(Sidebar).show_recall(event)
            case p.MemoryChanged():
                self._memory_changed(event)
            case p.Folding():
                self.inflight = event.request_id  # the reply is on its way: Esc stops it
                folded = self.query_one("#folded", Collapsible)
                folded.display = True
                noun = "message" if event.count == 1 else "messages"
                stop = self.keys["stop_reply"]
                folded.title = f"Summarizing {event.count:,} earlier {noun}… ({stop} stops)"
            case p.ContextFolded():
                self._show_folded(event.summarized, event.summary)
            case p.OlderMessages() if event.request_id == self.loading_older:
                await self._prepend(event)
            case p.NewerMessages() if event.request_id == self.loading_newer:
                await self._extend(event)
            case p.SessionUpdated() if event.session.id == self.session_id:
                self.title = event.session.title or "chatmem"
            case p.SettingsSaved():
                self.configured = event.configured
                self.sub_title = _subtitle(event.settings)
                if event.configured:
                    self.query_one(Banner).hide()
                else:
                    self._show_first_run()
            case p.LocalServerFound():
                names = ", ".join(event.models[:3]) or "no models yet"
                self.local_hint = (
                    f"\nA local server answers at {event.base_url} ({names}): "
                    f"{self.keys['settings']} to use it."
                )
                if not self.configured:
                    self._show_first_run()
            case p.WorkerDown():
                await self._worker_down(event)

    async def _worker_down(self, event: p.WorkerDown) -> None:
        """The next worker keeps what was shown of a reply (cut off, to resend), and a
        message it never got to store goes back into the editor."""
        from chatmem import protocol as p

        if self.asked:
            self.app.send(p.KeepCut(self.asked, "".join(self.arrived)))
            self.asked, self.arrived = "", []
        if self.inflight is not None:
            await self._done(None)
        if self.unsent:
            self._back_to_editor()
        self.notify(
            f"The worker stopped ({event.reason}); restarting it…", severity="error", markup=False
        )

    def _back_to_editor(self) -> None:
        if self.unsent:
            self.query_one(PromptInput).give_back(self.unsent)
        self.unsent = ""

    def _memory_changed(self, event: p.MemoryChanged) -> None:
        line = f"{event.verb} ({event.kind}): {event.title}"
        if event.change_id:
            line += f"  ({self.keys['undo_memory']} to undo)"
        self.notify(line, title="Memory", timeout=6, markup=False)

    def _show_folded(self, count: int, summary: str) -> None:
        """The divider above the transcript: what the model now gets as a summary."""
        self.folded = (count, summary)
        folded = self.query_one("#folded", Collapsible)
        folded.display = bool(count)
        noun = "message" if count == 1 else "messages"
        folded.title = f"{count:,} earlier {noun} summarized for the model (all are kept)"
        self.query_one("#summary", Static).update(Content(summary))

    async def _load(self, event: p.SessionLoaded) -> None:
        self._show_folded(event.summarized, event.summary)
        self.configured = event.configured
        self.session_id = event.session.id
        self.has_older = self.has_newer = False  # nothing to load while the list is replaced
        self.loading_older = self.loading_newer = ""
        self.inflight = None
        self.asked = ""
        self.streaming = None
        self.title = event.session.title or "chatmem"
        self.sub_title = _subtitle(event.settings)
        views = [self._view(m) for m in event.messages]
        await self.transcript.show(views)
        focus = next((v for v in views if v.message.id == event.focus_id), None)

        def ready() -> None:
            if focus is not None:  # opened at a message: show it at the top, marked
                self.transcript.scroll_to_widget(
                    focus.header, top=True, animate=False, immediate=True
                )  # now: _fill reads where it went
                for part in focus.parts:
                    part.add_class("-found")
            self.has_older, self.has_newer = event.has_older, event.has_newer
            if focus is not None:
                self._fill()

        if focus is not None:
            self.transcript.anchor(False)  # until the user scrolls back to the end
            self.call_after_refresh(ready)
        else:
            ready()
        failed = [m for m in event.messages if m.role == "user" and m.status == "failed"]
        self.failed_id = failed[-1].id if failed else None
        if event.readonly:
            self.query_one(Banner).show(
                Content.from_markup(
                    "[b]Read-only[/b]\n$why\nYou can read your conversations and memories; "
                    "a message you send stays in the editor until it can be saved.",
                    why=event.readonly,
                ),
                "warning",
            )
        elif self.readonly:
            self.query_one(Banner).hide()
        self.readonly = event.readonly
        if not event.configured:
            self._show_first_run()

    def _show_first_run(self) -> None:
        self.query_one(Banner).show(
            Content.from_markup(
                "[b]No model is configured yet.[/b]\n"
                "Set OPENAI_API_KEY (and OPENAI_BASE_URL, CHATMEM_MODEL for another server) in "
                "the environment or a .env file, edit the config file (`chatmem paths` shows "
                "it), or press [b]$key[/b] to open settings.$hint",
                key=self.keys["settings"],
                hint=self.local_hint,
            ),
            "info",
        )

    async def _append(self, view: MessageView) -> None:
        if await self.transcript.append(view):
            self.has_older = True

    async def _extend(self, event: p.NewerMessages) -> None:
        self.loading_newer = ""
        self.has_newer = event.has_newer
        for message in event.messages:
            await self._append(self._view(message))
        self.call_after_refresh(self._fill)

    async def _prepend(self, event: p.OlderMessages) -> None:
        self.loading_older = ""
        self.has_older = event.has_older
        await self.transcript.prepend([self._view(m) for m in event.messages])

    async def _done(self, message: p.ChatMessage | None) -> None:
        view, self.streaming = self.streaming, None
        request_id, self.inflight = self.inflight, None
        if view is None:
            return
        if message is None or not message.content:
            await self.transcript.remove_views([view])
        else:
            view.finish(message)  # the text still queued follows, a step per frame
            self.drawing = (request_id or "", view)
        self.collector.reply_ended()
        self.set_timer(1.0, self.collector.idle)

    async def _failed(self, event: p.ReplyFailed) -> None:
        self._show_folded(*self.folded)
        await self._done(event.partial)
        self.asked = ""
        if not event.user_message_id:  # refused before it was stored: back into the editor
            note = "Your message is back in the editor." if self.unsent else ""
            self.query_one(Banner).show_error(event.error, self.keys, note)
            self._back_to_editor()
            return
        self.query_one(Banner).show_error(event.error, self.keys)
        self.failed_id = event.user_message_id
        if event.partial is None:
            self._set_status(event.user_message_id, "failed")

    def _set_status(self, message_id: str, status: str) -> None:
        for view in self.transcript.views:
            if view.message.id == message_id:
                view.update(replace(view.message, status=status))
