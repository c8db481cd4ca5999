"""A one-paragraph banner above the prompt: errors, first-run help."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from chatmem.protocol import ErrorInfo

STEPS = {"resend": "to resend your message", "settings": "for settings"}


class Banner(Static):
    """Hidden until there is something to say."""

    def show_error(self, error: ErrorInfo, keys: Mapping[str, str], note: str = "") -> None:
        """The error, a note from the app, then what to press next, named by the keys the
        keymap left."""
        steps = [(keys[s], STEPS[s]) for s in error.steps if s in keys]
        said = f"{error.message} {note}".strip()
        parts: list[Content | tuple[str, str] | str] = [(error.title, "bold"), "\n", said]
        for n, (key, step) in enumerate(steps):
            parts += [" Press " if n == 0 else ", or ", (key, "bold"), f" {step}"]
        self.show(Content.assemble(*parts, "." if steps else ""), "error")

    def show(self, content: Content, kind: str = "info") -> None:
        """Show ``content`` (outside text in it is plain text, never markup)."""
        self.set_classes(f"-{kind}")
        self.update(content)
        self.display = True

    def hide(self) -> None:
        self.display = False
