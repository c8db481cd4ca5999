"""A one-paragraph banner above the prompt: errors, first-run help."""

from __future__ import annotations

from textual.markup import escape
from textual.widgets import Static

from chatmem.protocol import ErrorInfo


class Banner(Static):
    """Hidden until there is something to say."""

    def show_error(self, error: ErrorInfo) -> None:
        self.show(f"[b]{escape(error.title)}[/b]\n{escape(error.message)}", "error")

    def show(self, markup: str, kind: str = "info") -> None:
        self.set_classes(f"-{kind}")
        self.update(markup)
        self.display = True

    def hide(self) -> None:
        self.display = False
