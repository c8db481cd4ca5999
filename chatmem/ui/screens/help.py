"""F1: every key (as the keymap left it), every slash command, and where chatmem keeps things."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from chatmem.ui.commands import BY_SLASH, COMMANDS, SAFEWORDS
from chatmem.ui.keymap import keys_of
from chatmem.ui.registry import scopes

if TYPE_CHECKING:
    from chatmem.ui.api import AppAPI


def key_lines(bindings: Iterable[Binding], keymap: dict[str, str]) -> list[tuple[str, str, str]]:
    """(keys, what it does, binding id) for each binding."""
    return [
        (" ".join(keys_of(b, keymap)), b.description or b.action, b.id or "")
        for b in bindings
        if b.id
    ]


def help_text(keymap: dict[str, str], paths: list[tuple[str, str]]) -> Content:
    help_of = {c.id: c.help for c in COMMANDS}
    all_scopes = scopes()
    app_ids = {c.id for c in COMMANDS}
    parts: list[str | tuple[str, str]] = [("Keys everywhere\n", "bold")]
    app_lines = [line for line in key_lines(all_scopes["chat"], keymap) if line[2] in app_ids]
    for keys, title, binding_id in app_lines:
        parts += [(f"  {keys:<14}", "bold"), f"{title:<12} {help_of[binding_id]}  "]
        parts += [(binding_id, "dim"), "\n"]
    for scope, bindings in all_scopes.items():
        lines = [line for line in key_lines(bindings, keymap) if line[2] not in app_ids]
        parts.append((f"\nOn the {scope} screen\n", "bold"))
        for keys, title, binding_id in lines:
            parts += [(f"  {keys:<14}", "bold"), f"{title:<26} ", (binding_id, "dim"), "\n"]
    parts.append(("\nIn the prompt\n", "bold"))
    for name, command in BY_SLASH.items():
        parts += [(f"  {name + ' ' + command.arg:<22}", "bold"), f"{command.help}\n"]
    words = ", ".join(sorted(SAFEWORDS))
    parts.append(f"  {words}: typed alone, end the conversation like /bye\n")
    parts.append("  //text sends a message that starts with /\n")
    parts.append(("\nRemap a key in the config file: ", "dim"))
    parts.append(('[keymap] new_session = "ctrl+k"', "dim italic"))
    parts.append(("\n\nWhere things are\n", "bold"))
    for label, path in paths:
        parts += [(f"  {label:<14}", "bold"), f"{path}\n"]
    return Content.assemble(*parts)


class HelpScreen(ModalScreen[None]):
    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        from chatmem.paths import resolve_paths

        text = help_text(self.app.settings.keymap, resolve_paths().describe())
        with VerticalScroll(id="help-box"):
            yield Static(text)
            yield Static("[dim]Esc closes[/dim]")
