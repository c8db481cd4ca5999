"""One chat message: a header line and the body (Markdown for the assistant)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static

from chatmem.protocol import ChatMessage

ROLE_NAMES = {"user": "You", "assistant": "Assistant"}


def header_text(role: str, tokens: int, status: str, streaming: bool = False) -> str:
    """Textual markup for the line above a message (no user text in it)."""
    text = f"[b]{ROLE_NAMES.get(role, role)}[/b]"
    if tokens:
        text += f"  [dim]{tokens:,} tokens[/dim]"
    if streaming:
        text += "  [i dim]writing… (Esc to stop)[/]"
    elif status == "cut":
        text += "  [b $warning]✂ cut off[/]"
    elif status == "failed":
        text += "  [b $error]✗ not answered — Ctrl+R to resend[/]"
    return text


class MessageView(Vertical):
    """A stored message, or an assistant reply still streaming in."""

    def __init__(self, message: ChatMessage, streaming: bool = False) -> None:
        super().__init__(classes=f"message -{message.role}")
        self.message = message
        self.streaming = streaming
        self._stream = None

    def compose(self) -> ComposeResult:
        m = self.message
        yield Static(header_text(m.role, m.tokens, m.status, self.streaming), classes="header")
        if m.role == "assistant":
            yield Markdown(m.content, classes="body")
        else:
            yield Static(Text(m.content), classes="body")

    def on_mount(self) -> None:
        self.set_class(self.message.status != "ok", f"-{self.message.status}")
        if self.streaming:
            self._stream = Markdown.get_stream(self.query_one(Markdown))

    async def write(self, fragment: str) -> None:
        if self._stream is not None:
            await self._stream.write(fragment)

    async def finish(self, message: ChatMessage) -> None:
        """The reply is complete (or cut off): stop streaming, show the final state."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.streaming = False
        self.update(message)

    def update(self, message: ChatMessage) -> None:
        self.remove_class(f"-{self.message.status}")
        self.message = message
        self.set_class(message.status != "ok", f"-{message.status}")
        self.query_one(".header", Static).update(
            header_text(message.role, message.tokens, message.status)
        )
