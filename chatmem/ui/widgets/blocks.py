"""Widgets for the long blocks of a reply, which render only what was added to them.

``CodeBlock`` shows a long fenced code block as chunks of ``CHUNK`` lines, each highlighted
once, when complete; only the last chunk is highlighted again as lines arrive.
``Paragraph`` shows a long paragraph: its text is parsed in pieces of about ``PIECE``
characters (cut at a space), and its lines are wrapped once, as the text after them
arrives; only the last line and the newest piece are wrapped again.
Both take a deadline: a batch bigger than one step's work is shown over several steps
(``behind`` says some is left), so keys are handled between them.
"""

from __future__ import annotations

import re
import time

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich._wrap import divide_line
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Size
from textual.highlight import guess_language, highlight
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from chatmem.ui.blocks import Block

CHUNK = 64  # code lines highlighted together
PIECE = 1024  # paragraph characters parsed together …
HARD_PIECE = 4 * PIECE  # … or cut anyway, in a word, when no space comes
_SPACE = re.compile(r"\s")
_STYLES = {"strong": "bold", "em": "italic", "s": "strike", "link": "underline"}
PARSER = MarkdownIt("gfm-like")  # one for all: making one costs 30 times a short parse


def relayout(widget: Widget) -> None:
    """Lay ``widget`` out again: its height changed. Textual keys a widget's size on a count
    that ``refresh(layout=True)`` bumps only when no layout is pending, so a block changed
    twice before it is laid out could keep the height measured in between (a reply's end
    left unshown); the count is bumped here each time."""
    widget._layout_updates += 1
    widget.refresh(layout=True)


def wrap(content: Content, width: int) -> list[Content]:
    """``content`` cut into lines of ``width`` cells, at spaces where it can be (one empty
    line when it is empty)."""
    if not content:
        return [Content()]
    offsets = divide_line(content.plain, max(width, 1), fold=True)
    return [line.rstrip() for line in content.divide(offsets)]


def _added(block: Block, cursor: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """The text of ``block`` after ``cursor`` (a line and a column), and the new cursor."""
    line, column = cursor
    rows = [*block.lines, block.partial] if block.partial else block.lines
    if line >= len(rows):
        return "", cursor
    text = "\n".join([rows[line][column:], *rows[line + 1 :]])
    return text, (len(rows) - 1, len(rows[-1]))


class CodeBlock(Widget):
    """A fenced code block shown as it streams, highlighted a chunk at a time."""

    DEFAULT_CSS = """
    CodeBlock {
        height: auto;
        layout: vertical;
        & > Vertical {
            height: auto;
            margin: 1 0;
            padding: 1 2;
            color: rgb(210,210,210);
            background: black 10%;
            &:light { background: white 30%; }
        }
        & Static { text-wrap: nowrap; text-overflow: fold; }
    }
    """

    kind = "code"

    def __init__(self, block: Block, classes: str = "", deadline: float | None = None) -> None:
        self.language = block.info
        self._done = 0  # lines in complete chunks
        self._live: Static | None = None  # the chunk still growing
        self._plain: Static | None = None  # lines shown before they are highlighted
        self.behind = False  # complete chunks are left for the next step
        self.fence = Vertical(*self.take(block, deadline))
        super().__init__(self.fence, classes=classes)

    def take(self, block: Block, deadline: float | None = None) -> list[Widget]:
        """Highlight the block's new lines, until ``deadline`` (``time.monotonic()``) if
        given; returns the chunk widgets to mount in ``fence`` (before ``_plain``)."""
        lines = block.lines
        new: list[Static] = []
        while len(lines) - self._done >= CHUNK or (block.closed and self._done < len(lines)):
            if new and deadline is not None and time.monotonic() > deadline:
                break
            chunk = lines[self._done : self._done + CHUNK]
            if not self.language:
                self.language = guess_language("\n".join(chunk), None)
            self._done += len(chunk)
            new.append(self._put(self._highlight(chunk)))
            self._live = None
        else:
            live = lines[self._done :] + ([block.partial] if block.partial else [])
            if live:
                new.append(self._put(self._highlight(live)))
        self.behind = self._done + CHUNK <= len(lines) or (block.closed and self._done < len(lines))
        return [static for static in dict.fromkeys(new) if not static.is_attached]

    async def grow(self, block: Block, deadline: float, hurry: bool = False) -> None:
        """Show the block's new lines; with ``hurry`` (the reply is stopped or complete), the
        lines not yet highlighted show at once as plain text, coloured step by step. The
        plain text changes before the chunks that take its place are mounted: no line is
        ever shown twice, nor missing."""
        new: list[Widget] = self.take(block, deadline)
        plain = self._plain
        if self.behind and (hurry or plain is not None):
            rest = block.lines[self._done :] + ([block.partial] if block.partial else [])
            if plain is None:
                self._plain = Static(Content("\n".join(rest)))
                new.append(self._plain)
            else:
                plain.update(Content("\n".join(rest)))
                relayout(plain)
        elif plain is not None:
            plain.update(Content())
            plain.remove()
            self._plain = plain = None
        if new:
            with self.app.batch_update():
                await self.fence.mount_all(new, before=plain)

    def _put(self, content: Content) -> Static:
        if self._live is None:
            self._live = Static(content)
        else:
            self._live.update(content)
            relayout(self._live)
        return self._live

    def _highlight(self, lines: list[str]) -> Content:
        return highlight("\n".join(lines), language=self.language or "text")


def inline(text: str) -> Content:
    """Markdown inline text (emphasis, code, links) as styled Content, never as markup."""
    return styled(PARSER.parseInline(text)[0].children or [])


def styled(tokens: list[Token], hardbreak: str = " ") -> Content:
    """Parsed inline Markdown as styled Content (its text is never read as markup); a hard
    line break is ``hardbreak`` (a long paragraph, wrapped a piece at a time, has none)."""
    parts: list[tuple[str, str] | str] = []
    styles: list[str] = []
    for token in tokens:
        kind = token.type
        if kind.endswith("_open") and kind[:-5] in _STYLES:
            styles.append(_STYLES[kind[:-5]])
        elif kind.endswith("_close") and kind[:-6] in _STYLES:
            styles.remove(_STYLES[kind[:-6]])
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append(hardbreak)
        elif kind == "code_inline":
            parts.append((token.content, "bold"))
        elif token.content:
            parts.append((token.content, " ".join(styles)) if styles else token.content)
    return Content.assemble(*parts)


def _cut(text: str, final: bool) -> int:
    """Where the first piece of ``text`` ends (0: not yet, while more may come)."""
    if final:
        return len(text)
    if len(text) <= PIECE:
        return 0
    space = _SPACE.search(text, PIECE)
    if space is not None:
        return space.end()
    return HARD_PIECE if len(text) > HARD_PIECE else 0


class Paragraph(Widget):
    """A long paragraph, wrapped a line at a time as it streams in."""

    DEFAULT_CSS = """
    Paragraph { height: auto; }
    """

    kind = "para"

    def __init__(self, block: Block, classes: str = "", deadline: float | None = None) -> None:
        super().__init__(classes=classes)
        self._cursor = (0, 0)
        self._pending = ""  # text not yet parsed as a final piece
        self._pieces: list[Content] = []  # the final pieces, kept to wrap again at a new width
        self._width = 0
        self._rows: list[Content] = []  # wrapped lines, final
        self._tail = Content()  # final text after the last final line
        self._live: list[Content] = []  # wrapped lines of the tail and the pending text
        self.behind = False  # final pieces are left for the next step
        self.take(block, deadline)

    def take(self, block: Block, deadline: float | None = None) -> list[Widget]:
        """Show the block's new text, until ``deadline`` (``time.monotonic()``) if given
        (nothing to mount)."""
        text, self._cursor = _added(block, self._cursor)
        self._pending += text
        self.behind, taken = False, 0
        while cut := _cut(self._pending, block.closed):
            if taken and deadline is not None and time.monotonic() > deadline:
                self.behind = True
                break
            taken += 1
            piece, self._pending = self._pending[:cut], self._pending[cut:]
            self._pieces.append(inline(piece))
            if self._width:
                self._wrap(self._pieces[-1])
        if self._width:
            self._wrap_live()
        relayout(self)
        return []

    def _wrap(self, content: Content) -> None:
        tail = self._tail + content
        offsets = divide_line(tail.plain, self._width, fold=True)
        if offsets:
            *lines, self._tail = tail.divide(offsets)
            self._rows += [line.rstrip() for line in lines]
        else:
            self._tail = tail

    def _wrap_live(self) -> None:
        shown = self._pending and not self.behind  # (a backlog shows once it is parsed)
        tail = self._tail + inline(self._pending) if shown else self._tail
        self._live = wrap(tail, self._width) if tail else []

    def _rewrap(self, width: int) -> None:
        self._width, self._rows, self._tail = width, [], Content()
        for piece in self._pieces:
            self._wrap(piece)
        self._wrap_live()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._width:
            self._rewrap(width)
        return len(self._rows) + len(self._live)

    def render_line(self, y: int) -> Strip:
        rows, style = self._rows, self.visual_style
        if y >= len(rows) + len(self._live):
            return Strip.blank(self.content_size.width, style.rich_style)
        line = rows[y] if y < len(rows) else self._live[y - len(rows)]
        strip = Strip(line.render_segments(style)).simplify()  # (pieces joined in a line)
        return strip.extend_cell_length(self.content_size.width, style.rich_style)
