"""Pick from a list: what to copy to the clipboard, which model to use."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.logs import redact
from chatmem.ui.messages import WorkerEvent

if TYPE_CHECKING:
    from chatmem.ui.api import AppAPI

CODE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
NEWEST = 12  # messages offered, newest first


def copyable(messages: list[p.ChatMessage]) -> list[tuple[str, str]]:
    """(label, text) for the newest messages, each followed by its code blocks."""
    items = []
    for message in reversed(messages[-NEWEST:]):
        if not message.content:
            continue
        who = "You" if message.role == "user" else "Reply"
        items.append((f"{who}: {_line(message.content)}", message.content))
        for n, block in enumerate(CODE.findall(message.content), 1):
            items.append((f"  └ code block {n}: {_line(block, 60)}", block))
    return items


def _line(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class CopyPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, items: list[tuple[str, str]]) -> None:
        super().__init__()
        self.items = items

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static("[b]Copy to the clipboard[/b]")
            yield OptionList(*(Option(Content(label)) for label, _ in self.items), id="picker")
            yield Static("[dim]Enter copies · Esc cancels[/dim]")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.items[event.option_index][1])


class ModelPicker(ModalScreen[str | None]):
    """The server's models (``ListModels``); the one in use is marked."""

    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.request = p.ListModels(settings.base_url, settings.api_key)
        self.models: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static(Content.styled(f"Models at {redact(self.settings.base_url)}", "bold"))
            yield OptionList(id="picker")
            yield Static("[dim]Asking the server…[/dim]", id="picker-status")

    def on_mount(self) -> None:
        self.app.send(self.request)

    def on_worker_event(self, message: WorkerEvent) -> None:
        event = message.event
        if not isinstance(event, p.ModelsListed) or event.request_id != self.request.id:
            return
        status = self.query_one("#picker-status", Static)
        if event.error:
            status.update(
                Content.from_markup(
                    "[$error]$error[/]\n[dim]Esc closes; /model NAME sets one[/dim]",
                    error=event.error,
                )
            )
            return
        self.models = event.models
        current = self.settings.effective_model
        picker = self.query_one("#picker", OptionList)
        picker.add_options(
            Option(Content(f"{'● ' if name == current else '  '}{name}")) for name in self.models
        )
        if current in self.models:
            picker.highlighted = self.models.index(current)
        picker.focus()
        status.update("[dim]Enter switches (the sidebar follows) · Esc cancels[/dim]")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.models[event.option_index])
