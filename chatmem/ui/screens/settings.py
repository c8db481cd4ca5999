"""Settings: base URL, API key and model, saved to the config file by the worker."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.logs import redact
from chatmem.ui.messages import WorkerEvent

if TYPE_CHECKING:
    from chatmem.ui.api import AppAPI


class SettingsScreen(ModalScreen[None]):
    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+l", "list_models", "List models"),
    ]

    def __init__(self, settings: Settings, local: p.LocalServerFound | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.local = local
        self.pending: str | None = None  # id of the ListModels request we wait for

    def compose(self) -> ComposeResult:
        s = self.settings
        with VerticalScroll(id="dialog"):
            yield Label("[b]Settings[/b]")
            yield Label("Base URL (OpenAI, or any OpenAI-compatible server)")
            yield Input(redact(s.base_url), id="base_url")  # credentials in it stay hidden
            yield Label("API key" + (" — one is set; type to replace it" if s.api_key else ""))
            yield Input(
                "", id="api_key", password=True, placeholder="sk-…  (local servers need none)"
            )
            yield Label("Model")
            yield Input(s.model, id="model", placeholder=s.effective_model or "model name")
            with Horizontal(id="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("List models", id="list")
                if self.local is not None:
                    yield Button("Use local server", id="local")
                yield Button("Cancel", id="cancel")
            yield Static("", id="hint")
            yield OptionList(id="models")
            yield Static(
                Content.styled(f"Ctrl+S saves to {s.config_path} · Esc closes", "dim"), id="where"
            )

    def on_mount(self) -> None:
        self.query_one("#models", OptionList).display = False
        if self.local is not None:
            names = ", ".join(self.local.models[:5]) or "no models pulled yet"
            self._hint(Content(f"A local server answers at {self.local.base_url}: {names}"))
        self.query_one("#base_url", Input).focus()

    def _hint(self, text: str | Content) -> None:
        self.query_one("#hint", Static).update(Content(text) if isinstance(text, str) else text)

    def _error(self, text: str) -> None:
        self._hint(Content.from_markup("[b $error]$text[/]", text=text))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        match event.button.id:
            case "list":
                self.action_list_models()
            case "local":
                assert self.local is not None
                self.query_one("#base_url", Input).value = self.local.base_url
                self._show_models(self.local.models)
            case "save":
                self.action_save()
            case "cancel":
                self.dismiss()

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_list_models(self) -> None:
        request = p.ListModels(
            self._base_url(),
            self.query_one("#api_key", Input).value.strip(),
        )
        self.pending = request.id
        self._hint("Asking the server for its models…")
        self.app.send(request)

    def on_worker_event(self, message: WorkerEvent) -> None:
        event = message.event
        if not isinstance(event, p.ModelsListed) or event.request_id != self.pending:
            return
        self.pending = None
        if event.error:
            self._error(event.error)
        else:
            self._show_models(event.models)

    def _show_models(self, models: tuple[str, ...]) -> None:
        options = self.query_one("#models", OptionList)
        options.clear_options()
        options.add_options(Option(Content(name)) for name in models)
        options.display = bool(models)
        if models:
            options.highlighted = 0
            options.focus()
        self._hint(f"{len(models)} models: pick one with Enter" if models else "No models listed.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#model", Input).value = event.option.prompt.plain  # type: ignore[union-attr]
        self.query_one("#model", Input).focus()

    def _base_url(self) -> str:
        """The URL typed, or the one set if it is still shown with its credentials hidden."""
        typed = self.query_one("#base_url", Input).value.strip()
        return self.settings.base_url if typed == redact(self.settings.base_url) else typed

    def action_save(self) -> None:
        values = {
            "base_url": self._base_url(),
            "model": self.query_one("#model", Input).value.strip(),
            "api_key": self.query_one("#api_key", Input).value.strip(),
        }
        values = {k: v for k, v in values.items() if v}
        if not values.get("base_url"):
            self._error("The base URL is required.")
            return
        openai = replace(self.settings, base_url=values["base_url"].rstrip("/")).is_openai
        if not values.get("model") and not openai:
            self._error("Name a model: Ctrl+L lists the ones this server has.")
            return
        self.app.send(p.SaveSettings(values))
        self.dismiss()
