"""The chat screen: messages, the prompt, the error banner and the usage sidebar."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Collapsible, Footer, Header, Static

from chatmem import protocol as p
from chatmem.ui.collector import Collector
from chatmem.ui.widgets.banner import Banner
from chatmem.ui.widgets.prompt import PromptInput
from chatmem.ui.widgets.sidebar import Sidebar
from chatmem.ui.widgets.transcript import Transcript

if TYPE_CHECKING:
    from chatmem.config import Settings
    from chatmem.ui.widgets.message import MessageView


def _message_view(message: p.ChatMessage, streaming: bool = False) -> MessageView:
    # Imported on first use: the Markdown widget is not needed to paint the first frame.
    from chatmem.ui.widgets.message import MessageView

    return MessageView(message, streaming)


def _subtitle(settings: Settings) -> str:
    """The model, and the profile unless it is the default one."""
    model = settings.effective_model or "no model"
    return model if settings.profile == "default" else f"{model} · profile {settings.profile}"


def slash_command(text: str) -> p.Request | None:
    """``/remember TEXT``, ``/forget TEXT-OR-ID`` and ``/bye`` as requests; else None."""
    word, _, rest = text.strip().partition(" ")
    match word.lower():
        case "/remember":
            return p.Remember(rest)
        case "/forget":
            return p.Forget(rest)
        case "/bye":
            return p.EndSession()
    return None


def _warm_markdown() -> None:
    import chatmem.ui.widgets.message  # noqa: F401


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "cancel", "Stop reply", show=False),
        Binding("ctrl+r", "resend", "Resend"),
        Binding("f2", "app.settings", "Settings"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar"),
        Binding("f4", "app.undo_memory", "Undo memory", show=False),  # Ctrl+Z is the editor's undo
    ]

    def __init__(self) -> None:
        super().__init__()
        self.inflight: str | None = None  # request id of the reply being streamed
        self.streaming: MessageView | None = None
        self.failed_id: str | None = None  # the user message Ctrl+R resends
        self.unsent = ""  # text of the last SendMessage, until the worker stored it
        self.session_id = ""
        self.has_older = False
        self.loading_older = ""  # the LoadOlder on its way: answers to any other are stale
        self.has_newer = False  # opened at an older message (a search hit, a memory's source)
        self.loading_newer = ""
        self.configured = True
        self.local_hint = ""
        self.collector = Collector()

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal():
            with Vertical(id="chat"):
                with Collapsible(id="folded", title="", collapsed=True):
                    yield Static("", id="summary")
                yield Transcript(id="messages")
                yield Banner(id="banner")
                yield PromptInput(
                    id="prompt", placeholder="Message…  (Enter sends, Ctrl+J new line)"
                )
            yield Sidebar(id="sidebar")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Banner).hide()
        self.query_one("#folded").display = False
        self.transcript = self.query_one(Transcript)
        self.watch(self.transcript, "scroll_y", self._maybe_load_more, init=False)
        prompt = self.query_one(PromptInput)
        prompt.cursor_blink = self.app.blink
        prompt.focus()
        self.set_timer(0.5, self._warm_up)

    def _warm_up(self) -> None:
        _warm_markdown()  # while idle, not when the first reply lands
        self.collector.started()

    # ------------------------------------------------------------ user actions

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        command = slash_command(event.text)
        if command is not None:
            self.query_one(PromptInput).clear()
            self.app.send(command)
            return
        if self.inflight is not None:
            self.notify(
                "A reply is still coming: wait, or press Esc to stop it.", severity="warning"
            )
            return
        if self.has_newer:  # back to the end of the conversation first, where it goes on
            self.app.send(p.OpenSession(self.session_id))
        self.unsent = event.text
        self.query_one(PromptInput).clear()
        self.app.send(p.SendMessage(event.text))

    def action_cancel(self) -> None:
        if self.inflight is not None:
            self.app.send(p.Cancel(self.inflight))

    def action_resend(self) -> None:
        if self.failed_id is None:
            self.notify("Nothing to resend.")
            return
        if self.inflight is not None:
            return
        self.query_one(Banner).hide()
        self._set_status(self.failed_id, "ok")
        self.app.send(p.Resend(self.failed_id))

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display

    def _maybe_load_more(self, scroll_y: float) -> None:
        views = self.transcript.views
        if not views:
            return
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

    async def handle(self, event: p.Event) -> None:
        match event:
            case p.SessionLoaded():
                await self._load(event)
            case p.MessageSaved():
                self.unsent = ""
                await self._append(_message_view(event.message))
            case p.ReplyStarted():
                self.collector.reply_started()
                self.inflight = event.request_id
                placeholder = p.ChatMessage(event.message_id, "assistant", "", 0.0)
                self.streaming = _message_view(placeholder, streaming=True)
                await self._append(self.streaming)
            case p.ReplyDelta():
                if self.streaming is not None:
                    self.streaming.write(event.text)
            case p.ReplyDone():
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
                    f"\nA local server answers at {event.base_url} ({names}): F2 to use it."
                )
                if not self.configured:
                    self._show_first_run()
            case p.WorkerDown():
                if self.inflight is not None:
                    await self._done(None)
                self.notify(
                    f"The worker stopped ({event.reason}); restarting it…", severity="error"
                )

    def _memory_changed(self, event: p.MemoryChanged) -> None:
        line = f"{event.verb} ({event.kind}): {escape(event.title)}"
        if event.change_id:
            line += "  [dim]F4 to undo[/dim]"
        self.notify(line, title="Memory", timeout=6)

    def _show_folded(self, count: int, summary: str) -> None:
        """The divider above the transcript: what the model now gets as a summary."""
        folded = self.query_one("#folded", Collapsible)
        folded.display = bool(count)
        noun = "message" if count == 1 else "messages"
        folded.title = f"{count:,} earlier {noun} summarized for the model (all are kept)"
        self.query_one("#summary", Static).update(escape(summary))

    async def _load(self, event: p.SessionLoaded) -> None:
        self._show_folded(event.summarized, event.summary)
        self.configured = event.configured
        self.session_id = event.session.id
        self.has_older = self.has_newer = False  # nothing to load while the list is replaced
        self.loading_older = self.loading_newer = ""
        self.inflight = None
        self.streaming = None
        self.title = event.session.title or "chatmem"
        self.sub_title = _subtitle(event.settings)
        views = [_message_view(m) for m in event.messages]
        await self.transcript.show(views)
        focus = next((v for v in views if v.message.id == event.focus_id), None)

        def ready() -> None:
            if focus is not None:  # opened at a message: show it at the top, marked
                self.transcript.scroll_to_widget(focus.header, top=True, animate=False)
                for part in focus.parts:
                    part.add_class("-found")
            self.has_older, self.has_newer = event.has_older, event.has_newer

        if focus is not None:
            self.transcript.anchor(False)  # until the user scrolls back to the end
            self.call_after_refresh(ready)
        else:
            ready()
        failed = [m for m in event.messages if m.role == "user" and m.status == "failed"]
        self.failed_id = failed[-1].id if failed else None
        if not event.configured:
            self._show_first_run()

    def _show_first_run(self) -> None:
        self.query_one(Banner).show(
            "[b]No model is configured yet.[/b]\n"
            "Set OPENAI_API_KEY (and OPENAI_BASE_URL, CHATMEM_MODEL for another server) in the "
            "environment or a .env file, edit the config file (`chatmem paths` shows it), or "
            f"press [b]F2[/b] to open settings.{self.local_hint}",
            "info",
        )

    async def _append(self, view: MessageView) -> None:
        if await self.transcript.append(view):
            self.has_older = True

    async def _extend(self, event: p.NewerMessages) -> None:
        self.loading_newer = ""
        self.has_newer = event.has_newer
        for message in event.messages:
            await self._append(_message_view(message))

    async def _prepend(self, event: p.OlderMessages) -> None:
        self.loading_older = ""
        self.has_older = event.has_older
        await self.transcript.prepend([_message_view(m) for m in event.messages])

    async def _done(self, message: p.ChatMessage | None) -> None:
        view, self.streaming, self.inflight = self.streaming, None, None
        if view is None:
            return
        if message is None or not message.content:
            await self.transcript.remove([view])
        else:
            await view.finish(message)  # the text still queued is shown first
        self.collector.reply_ended()
        self.set_timer(1.0, self.collector.idle)

    async def _failed(self, event: p.ReplyFailed) -> None:
        await self._done(event.partial)
        self.query_one(Banner).show_error(event.error)
        if not event.user_message_id:  # refused before it was stored: back into the editor
            prompt = self.query_one(PromptInput)
            if not prompt.text:
                prompt.load_text(self.unsent)
            self.unsent = ""
            return
        self.failed_id = event.user_message_id
        if event.partial is None:
            self._set_status(event.user_message_id, "failed")

    def _set_status(self, message_id: str, status: str) -> None:
        for view in self.transcript.views:
            if view.message.id == message_id:
                view.update(replace(view.message, status=status))
