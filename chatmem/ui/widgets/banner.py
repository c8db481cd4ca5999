"""A one-paragraph banner above the prompt: errors, first-run help."""

from __future__ import annotations

from collections.abc import Mapping

from textual.markup import escape
from textual.widgets import Static

from chatmem.protocol import ErrorInfo

STEPS = {"resend": "to resend your message", "settings": "for settings"}


class Banner(Static):
    """Hidden until there is something to say."""

    def show_error(self, error: ErrorInfo, keys: Mapping[str, str], note: str = "") -> None:
        """The error, a note from the app, then what to press next, named by the keys the
        keymap left."""
        steps = [f"[b]{keys[s]}[/b] {STEPS[s]}" for s in error.steps if s in keys]
        then = f" Press {', or '.join(steps)}." if steps else ""
        said = escape(f"{error.message} {note}".strip())
        self.show(f"[b]{escape(error.title)}[/b]\n{said}{then}", "error")

    def show(self, markup: str, kind: str = "info") -> None:
        self.set_classes(f"-{kind}")
        self.update(markup)
        self.display = True

    def hide(self) -> None:
        self.display = False
