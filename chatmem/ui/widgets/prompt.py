"""The prompt editor: Enter sends, Ctrl+J (or Shift+Enter, Alt+Enter) starts a new line;
while the slash-command menu is open, Tab, Up, Down, Enter and Esc belong to the menu."""

from __future__ import annotations

import time

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from chatmem.ui.commands import completions

NEWLINE_KEYS = {"ctrl+j", "shift+enter", "alt+enter"}
MENU_KEYS = {"tab", "up", "down", "enter", "escape"}


class PromptInput(TextArea):
    """Multi-line editor; pasted text keeps its lines."""

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class MenuKey(Message):
        def __init__(self, key: str, text: str) -> None:
            super().__init__()
            self.key = key
            self.text = text  # in the editor when the key was pressed

    typed_at = 0.0  # time.monotonic() of the last key pressed in any prompt

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.menu_open = False

    async def _on_key(self, event: events.Key) -> None:
        PromptInput.typed_at = time.monotonic()
        if self.menu_open and event.key in MENU_KEYS and self._completes():
            event.stop()
            event.prevent_default()
            self.post_message(self.MenuKey(event.key, self.text))
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.post_message(self.Submitted(self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        await super()._on_key(event)

    def _completes(self) -> bool:
        """Whether the text as it is now (not as the menu last saw it) is a command to
        complete: keys typed faster than the menu follows still go to the editor."""
        document = self.document
        return bool(completions(document[0] if document.line_count == 1 else ""))
