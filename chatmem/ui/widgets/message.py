"""One chat message, shown as a run of sibling widgets: a header line, then the body.

The parts are direct children of the scrolling message list, not children of one container
per message: Textual lays out every widget under a container whenever one of them changes.
An assistant body is one widget per block of ``chatmem.ui.blocks``; while a reply streams,
its text is taken in one batch per frame, and only the blocks it changed are rendered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import replace

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from chatmem.protocol import ChatMessage
from chatmem.ui.blocks import Block, Splitter
from chatmem.ui.widgets.blocks import CodeBlock, Paragraph
from chatmem.ui.widgets.prompt import PromptInput
from chatmem.ui.widgets.table import TableBlock
from chatmem.ui.widgets.text_block import TextBlock

ROLE_NAMES = {"user": "You", "assistant": "Assistant"}
FRAME = 1 / 20  # seconds between two renders of a streaming reply at least: text arriving
# meanwhile is rendered in one batch
STEP = 0.04  # seconds of rendering before the screen is painted and keys are handled
KEY_QUIET = 0.05  # seconds without a keystroke before a streamed batch renders …
MOST_DEFERRED = 0.25  # … unless keys keep coming for this long
SLOW = 4  # a block that took t to render waits SLOW * t before it is rendered again
FEED = 2048  # characters given to the blocks first in a step (then twice as many, …)


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
        self._splitter = Splitter()
        self._pending: list[str] = []  # streamed text not yet rendered
        self._fed = 0  # characters given to the splitter
        self._stopped = False
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # set by Esc: render what arrived now
        self._renderer: asyncio.Task | None = None
        self._due: dict[int, float] = {}  # id of a slow text block → when it may render again
        m = message
        text = header_text(m.role, m.tokens, m.status, keys, streaming)
        self.header = Static(text, classes=self._classes("-header"))
        bodies: list[Widget]
        if m.role != "assistant":
            bodies = [Static(Text(m.content), classes=self._classes("-last"))]
        else:
            if not streaming:
                self._splitter.feed(m.content)
                self._splitter.finish()
            self._splitter.clean()
            bodies = [self._body(block) for block in self._splitter.blocks]
            bodies = bodies or [TextBlock(Block("text"), classes=self._classes())]
        self.parts: list[Widget] = [self.header, *bodies]

    def _classes(self, *more: str) -> str:
        """A part's classes, given as it is made (each class added later restyles it)."""
        status = "cut" if self._stopped else self.message.status
        marks = [f"-{status}"] if status != "ok" else []
        return " ".join(["message", f"-{self.message.role}", *more, *marks])

    def _body(self, block: Block, deadline: float | None = None) -> Widget:
        classes = self._classes()
        if block.kind == "code":
            return CodeBlock(block, classes=classes, deadline=deadline)
        if block.kind == "para":
            return Paragraph(block, classes=classes, deadline=deadline)
        if block.kind == "table":
            return TableBlock(block, classes=classes, deadline=deadline)
        return TextBlock(block, classes=classes)

    def write(self, fragment: str) -> None:
        """Queue streamed text; it is rendered with whatever else arrives within a frame."""
        if self._stopped:
            return
        self._pending.append(fragment)
        self._kick()

    def stop(self) -> int:
        """The user stopped the reply: show it cut off now, take no more text. Returns how
        many characters of it are shown (the worker keeps those): text queued and not yet
        given to the blocks is dropped, what they hold renders at once."""
        if not self._stopped:
            self._stopped = True
            self._pending.clear()
            if self.streaming:
                self.header.update(header_text("assistant", 0, "cut", self.keys))
                self._set_status_class("cut", True)  # the border shows it, not the header
            else:  # the worker had it whole: it keeps what is shown
                self.update(self._as_shown(self.message))
            self._kick()
            self._hurry.set()
        return self._fed

    def _as_shown(self, message: ChatMessage) -> ChatMessage:
        """``message`` as the user stopped it: the text shown, cut off."""
        return replace(message, content=message.content[: self._fed], status="cut")

    @property
    def rendering(self) -> bool:
        """Whether text that arrived is still to be shown."""
        return self._renderer is not None

    def _kick(self) -> None:
        self._wake.set()
        if self._renderer is None:
            self._renderer = asyncio.create_task(self._render_loop())

    async def _render_loop(self) -> None:
        """Render what arrived, then wait: at least a frame, at least twice what the render
        and its paint took (a loaded machine renders bigger batches, less often), and until
        no key was pressed for a moment (its echo paints first, cheaply). Once the reply is
        complete or stopped, what is left renders without waiting, a step per paint."""
        while True:
            await self._wake.wait()
            woke = time.monotonic()
            while self.streaming and (since := time.monotonic() - PromptInput.typed_at) < KEY_QUIET:
                if self._stopped or time.monotonic() - woke > MOST_DEFERRED:
                    break
                await asyncio.sleep(KEY_QUIET - since)
            self._wake.clear()
            start = time.monotonic()
            if await self._render():
                self._wake.set()
            live = self.streaming and not self._stopped
            if not live and not self._wake.is_set() and not self._pending:
                self._renderer = None
                return
            painted = asyncio.Event()
            self.header.call_after_refresh(painted.set)
            await painted.wait()
            if live:
                with contextlib.suppress(TimeoutError):  # Esc cuts the wait short
                    await asyncio.wait_for(
                        self._hurry.wait(), max(FRAME, 2 * (time.monotonic() - start))
                    )

    async def _render(self) -> bool:
        """Render what arrived, for about ``STEP`` seconds; True when some is left. The text
        is given to the blocks in pieces, while there is time to draw them, each piece twice
        the last (``FEED`` characters first): what Esc leaves to draw is one piece, no bigger
        than what the step drew before it, not a backlog."""
        deadline, size = time.monotonic() + STEP, FEED
        while True:
            text = "".join(self._pending)
            self._pending = [text[size:]] if len(text) > size else []
            self._fed += min(len(text), size)
            self._splitter.feed(text[:size])
            size *= 2
            if not self.streaming and not self._pending:
                self._splitter.finish()
            if await self._render_blocks(deadline):
                return True
            if not self._pending:
                return False
            if time.monotonic() > deadline:
                return True

    async def _render_blocks(self, deadline: float) -> bool:
        """Render the blocks changed since the last step; True when some is left."""
        blocks, bodies = self._splitter.blocks, self.parts[1:]
        first = min(self._splitter.dirty, len(bodies) - 1)
        self._splitter.clean()
        for index in range(first, len(blocks)):
            if time.monotonic() > deadline:
                self._splitter.dirty = min(self._splitter.dirty, index)
                return True
            body = bodies[index] if index < len(bodies) else None
            block = blocks[index]
            if body is not None and getattr(body, "kind", "") == block.kind:
                await self._take(body, block, deadline)
            else:
                self._due.pop(id(body), None)
                body = self._body(block, deadline)
                await self._place(body, bodies[index] if index < len(bodies) else None)
            if getattr(body, "behind", False):  # its backlog goes on after a paint
                self._splitter.dirty = min(self._splitter.dirty, index)
                return True
        return False

    async def _take(self, body: Widget, block: Block, deadline: float) -> None:
        if isinstance(body, TextBlock):
            now = time.perf_counter()
            if not block.closed and now < self._due.get(id(body), 0.0):
                self._splitter.dirty = min(self._splitter.dirty, self.parts.index(body) - 1)
                self._wake.set()  # not yet: a slow block renders at most every SLOW * its cost
                return
            changed = block.source != body.source
            body.take(block)  # (also when only ``continued`` changed)
            if changed:
                self._due[id(body)] = now + SLOW * (time.perf_counter() - now)
        elif isinstance(body, CodeBlock):
            await body.grow(block, deadline, hurry=self._stopped or not self.streaming)
        else:
            body.take(block, deadline)  # type: ignore[attr-defined]

    async def _place(self, body: Widget, old: Widget | None) -> None:
        """Mount a new body after the last (or in place of ``old``)."""
        last = self.parts[-1]
        if old is None:
            self.parts.append(body)
            await last.parent.mount(body, after=last)  # type: ignore[union-attr]
            return
        self.parts[self.parts.index(old)] = body
        await old.parent.mount(body, after=old)  # type: ignore[union-attr]
        await old.remove()

    def finish(self, message: ChatMessage) -> None:
        """The reply is complete (or cut off): show its final state now, and the text still
        queued as the renderer gets to it (never all at once); the stored text is shown."""
        self.streaming = False
        if self._stopped:  # the worker keeps what was shown, if it had more
            message = self._as_shown(message)
        elif len(message.content) > self._fed + sum(map(len, self._pending)):
            self._pending = [message.content[self._fed :]]
        self.update(message)
        self._kick()

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
        if self._renderer is not None:
            self._renderer.cancel()
            self._renderer = None
