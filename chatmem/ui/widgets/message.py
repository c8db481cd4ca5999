"""One chat message, shown as a run of sibling widgets: a header line, then the body.

The parts are direct children of the scrolling message list, not children of one container
per message: Textual lays out every widget under a container whenever one of them changes,
so a long reply inside one container re-arranges all its blocks on each streamed line. For
the same reason an assistant body is split into Markdown widgets of at most
``SEGMENT_BLOCKS`` top-level blocks each.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from itertools import pairwise

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Markdown, Static

from chatmem.protocol import ChatMessage

ROLE_NAMES = {"user": "You", "assistant": "Assistant"}
PACE_CHARS = 240  # Markdown appended per step: each append mounts a few blocks, never hundreds
SEGMENT_BLOCKS = 16  # top-level blocks per Markdown widget; re-arranging one costs O(this)
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)
_BOUNDARY = re.compile(r"\n\n(?=\S)")  # a blank line, then a new top-level block


def split_blocks(text: str, size: int = SEGMENT_BLOCKS) -> list[str]:
    """Split Markdown into pieces of at most ``size`` top-level blocks each."""
    from markdown_it import MarkdownIt

    starts = [
        token.map[0]
        for token in MarkdownIt("gfm-like").parse(text)
        if token.level == 0 and token.map is not None and token.nesting != -1
    ]
    cuts = starts[size::size]
    if not cuts:
        return [text]
    lines = text.splitlines(keepends=True)
    bounds = [0, *cuts, len(lines)]
    return ["".join(lines[a:b]) for a, b in pairwise(bounds) if a < b]


def _boundary(segment: str, text: str) -> int | None:
    """Where in ``text``, streamed after ``segment``, a top-level block starts outside a fence."""
    tail = segment[-2:]
    for match in _BOUNDARY.finditer(tail + text):
        split = match.end() - len(tail)
        if split >= 0 and len(_FENCE.findall(segment + text[:split])) % 2 == 0:
            return split
    return None


def header_text(
    role: str, tokens: int, status: str, keys: Mapping[str, str], streaming: bool = False
) -> str:
    """Textual markup for the line above a message (no user text in it); ``keys`` names the
    stop and resend keys as the keymap left them."""
    text = f"[b]{ROLE_NAMES.get(role, role)}[/b]"
    if tokens:
        text += f"  [dim]{tokens:,} tokens[/dim]"
    if streaming:
        text += f"  [i dim]writing… ({keys['stop_reply']} to stop)[/]"
    elif status == "cut":
        text += "  [b $warning]✂ cut off[/]"
    elif status == "failed":
        text += f"  [b $error]✗ not answered — {keys['resend']} to resend[/]"
    return text


class MessageView:
    """A stored message, or an assistant reply still streaming in, and the widgets showing it."""

    def __init__(
        self, message: ChatMessage, keys: Mapping[str, str], streaming: bool = False
    ) -> None:
        self.message = message
        self.keys = keys
        self.streaming = streaming
        self._backlog = ""  # streamed text not yet handed to a Markdown widget
        self._feeder: asyncio.Task | None = None
        m = message
        self.header = Static(header_text(m.role, m.tokens, m.status, keys, streaming))
        if m.role != "assistant":
            bodies: list[Widget] = [Static(Text(m.content))]
        elif streaming:
            bodies = [Markdown()]
        else:
            bodies = [Markdown(piece) for piece in split_blocks(m.content)]
        self.parts: list[Widget] = [self.header, *bodies]
        self.header.add_class("-header")
        bodies[-1].add_class("-last")
        for part in self.parts:
            part.add_class("message", f"-{m.role}")
        self._set_status_class(m.status, True)

    def write(self, fragment: str) -> None:
        """Queue streamed text; it is appended in bounded steps so no frame stalls.

        Like ``Markdown.get_stream()`` this appends incrementally (the widget parses only
        the new lines), but it also bounds each step, and starts a new Markdown widget every
        ``SEGMENT_BLOCKS`` blocks: a fast server can deliver kilobytes between two frames.
        """
        self._backlog += fragment
        if self._feeder is None:
            self._feeder = asyncio.create_task(self._feed())

    async def _feed(self) -> None:
        markdown = self.parts[-1]
        assert isinstance(markdown, Markdown)
        while self._backlog:
            text = self._backlog
            full = len(markdown.children) >= SEGMENT_BLOCKS
            split = _boundary(markdown.source, text) if full else None
            if split is not None:
                head, text = text[:split], text[split:]
            cut = text.rfind("\n", 0, PACE_CHARS) + 1 if len(text) > PACE_CHARS else len(text)
            piece, self._backlog = text[: cut or PACE_CHARS], text[cut or PACE_CHARS :]
            # No await above this line: write() may add to the backlog at any await.
            if split is not None:
                if head:
                    await markdown.append(head)
                markdown = await self._new_segment(markdown)
            await markdown.append(piece)
            await asyncio.sleep(0)  # let keys and paints in between steps
        self._feeder = None

    async def _new_segment(self, last: Markdown) -> Markdown:
        segment = Markdown(classes=" ".join(last.classes))
        last.remove_class("-last")
        self.parts.append(segment)
        await last.parent.mount(segment, after=last)  # type: ignore[union-attr]
        return segment

    async def finish(self, message: ChatMessage) -> None:
        """The reply is complete (or cut off): show what is queued, then the final state."""
        if self._feeder is not None:
            await self._feeder
        self.streaming = False
        self.update(message)

    def update(self, message: ChatMessage) -> None:
        """Show a new state of the same message (its tokens and status)."""
        self._set_status_class(self.message.status, False)
        self.message = message
        self._set_status_class(message.status, True)
        self.header.update(header_text(message.role, message.tokens, message.status, self.keys))

    def _set_status_class(self, status: str, on: bool) -> None:
        if status != "ok":
            for part in self.parts:
                part.set_class(on, f"-{status}")

    def cancel(self) -> None:
        """Stop feeding streamed text (the message is leaving the screen)."""
        if self._feeder is not None:
            self._feeder.cancel()
            self._feeder = None
