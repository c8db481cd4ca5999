"""The prompt editor: Enter sends (the editor is emptied at once: what is typed next is the
next message), Ctrl+J (or Shift+Enter, Alt+Enter) starts a new line; while the
slash-command menu is open, Tab, Up, Down, Enter and Esc belong to the menu."""

from __future__ import annotations

import time

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from chatmem.ui.commands import completions

NEWLINE_KEYS = {"ctrl+j", "shift+enter", "alt+enter"}
MENU_KEYS = {"tab", "up", "down", "enter", "escape"}
# The editor's own keys (Backspace, arrows, …), done as they come: left to Textual, a
# binding runs once its key has bubbled up to the app, after the characters typed behind it.
EDITING = {
    key.strip(): binding.action
    for binding in TextArea.BINDINGS
    if isinstance(binding, Binding)
    for key in binding.key.split(",")
}


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
            if (text := self.text).strip():  # emptied now: keys typed next are new text
                self.clear()
                self.post_message(self.Submitted(text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        if (action := EDITING.get(event.key)) is not None:
            event.stop()
            event.prevent_default()
            await self.run_action(action)
            return
        await super()._on_key(event)

    def give_back(self, text: str) -> None:
        """Put ``text`` (sent, then refused) back, before anything typed since."""
        if not self.text:
            self.load_text(text)
            self.move_cursor(self.document.end)
        else:
            self.insert(f"{text}\n", (0, 0))

    def _completes(self) -> bool:
        """Whether the text as it is now (not as the menu last saw it) is a command to
        complete: keys typed faster than the menu follows still go to the editor."""
        document = self.document
        return bool(completions(document[0] if document.line_count == 1 else ""))
