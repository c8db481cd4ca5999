"""A Markdown table that draws its own rows, each parsed once, as it streams in.

Each complete row is parsed once (its cells as styled ``Content``, never markup); the
column widths follow the widest cell seen so far, shrunk to fit the width there is (the
widest columns first; their cells wrap). Rows are drawn as strips only when they are on
screen, so a new row, or new widths, cost the rows in view, not the whole table.
"""

from __future__ import annotations

import bisect
import time

from textual.content import Content
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from chatmem.ui.blocks import Block, cells
from chatmem.ui.widgets.blocks import inline, relayout, wrap

SEPARATOR = " │ "
EDGE = 1  # blank columns either side of the table


def _align(rule: str) -> str:
    rule = rule.strip()
    if rule.startswith(":") and rule.endswith(":"):
        return "center"
    return "right" if rule.endswith(":") else "left"


def fit(natural: list[int], room: int) -> list[int]:
    """Column widths: the natural ones when they fit in ``room``, else the widest cut to one
    cap (at least 1 each), the room left given to the widest columns."""
    if sum(natural) <= room:
        return list(natural)
    low, high = 1, max(natural)
    while low < high:  # the largest cap that fits
        cap = (low + high + 1) // 2
        if sum(min(n, cap) for n in natural) <= room:
            low = cap
        else:
            high = cap - 1
    widths = [min(n, low) for n in natural]
    spare = room - sum(widths)
    for index in sorted(range(len(widths)), key=lambda i: -natural[i]):
        if spare <= 0:
            break
        if natural[index] > widths[index]:
            widths[index] += 1
            spare -= 1
    return widths


class TableBlock(Widget):
    """A table's header, its rule and its rows, drawn a line at a time."""

    DEFAULT_CSS = """
    TableBlock {
        height: auto;
        & > .table--header { color: $primary; text-style: bold; }
        & > .table--rule { color: $foreground 30%; }
    }
    """
    COMPONENT_CLASSES = {"table--header", "table--rule"}

    kind = "table"

    def __init__(self, block: Block, classes: str = "", deadline: float | None = None) -> None:
        super().__init__(classes=classes)
        self._parsed = 0  # complete lines parsed
        self._aligns: list[str] = []
        self._rows: list[list[Content]] = []  # the header first
        self._natural: list[int] = []  # the widest cell of each column
        self._width = 0  # the width laid out for …
        self._widths: list[int] = []  # … its column widths …
        self._starts: list[int] = [0]  # … and the line each row starts at (and the end)
        self._drawn: dict[int, list[Strip]] = {}  # rows drawn at these widths
        self.behind = False  # complete rows are left for the next step
        self._source: list[str] = []  # the lines parsed
        self.take(block, deadline)

    @property
    def source(self) -> str:
        return "\n".join(self._source)

    def take(self, block: Block, deadline: float | None = None) -> list[Widget]:
        """Parse the block's new complete rows (and its last, once closed), until
        ``deadline`` (``time.monotonic()``) if given (nothing to mount)."""
        lines = block.lines
        count = len(lines) + bool(block.closed and block.partial)
        added = 0
        while self._parsed < count:
            if added and deadline is not None and time.monotonic() > deadline:
                break
            self._parse(lines[self._parsed] if self._parsed < len(lines) else block.partial)
            self._parsed += 1
            added += 1
        self.behind = self._parsed < count
        if added:
            if self._width:
                self._lay_out(self._width)
            relayout(self)
        return []

    def _parse(self, line: str) -> None:
        self._source.append(line)
        if self._parsed == 1:  # the rule under the header
            self._aligns = [_align(rule) for rule in cells(line)]
            return
        texts = cells(line)
        if not self._rows:
            self._natural = [0] * len(texts)
        row = [inline(text) for text in texts[: len(self._natural)]]
        row += [Content()] * (len(self._natural) - len(row))
        self._rows.append(row)
        widest = zip(self._natural, row, strict=True)
        self._natural = [max(n, cell.cell_length) for n, cell in widest]

    def _lay_out(self, width: int) -> None:
        """Widths for ``width``; row heights anew if they changed, else for the new rows."""
        count = len(self._natural)
        room = width - 2 * EDGE - len(SEPARATOR) * (count - 1)
        widths = fit(self._natural, max(room, count)) if count else []
        if widths != self._widths or width != self._width:
            self._width, self._widths, self._starts, self._drawn = width, widths, [0], {}
        for row in self._rows[len(self._starts) - 1 :]:
            heights = [self._height(cell, w) for cell, w in zip(row, widths, strict=True)]
            height = max(heights, default=1)
            self._starts.append(self._starts[-1] + height + (len(self._starts) == 1))

    @staticmethod
    def _height(cell: Content, width: int) -> int:
        return 1 if cell.cell_length <= width else len(wrap(cell, width))

    def _draw(self, index: int) -> list[Strip]:
        """The lines of row ``index`` (the header with its rule under it)."""
        if (drawn := self._drawn.get(index)) is not None:
            return drawn
        row, widths = self._rows[index], self._widths
        columns = []
        for cell, width, align in zip(row, widths, self._aligns, strict=True):
            columns.append([_pad(part, width, align) for part in wrap(cell, width)])
        height = max(map(len, columns), default=1)
        style = self.visual_style
        header = self.get_visual_style("table--header") if index == 0 else None
        rule = self.get_visual_style("table--rule")
        gap = Content(SEPARATOR).stylize(rule)
        strips, pairs = [], list(zip(columns, widths, strict=True))
        for y in range(height):
            parts = [col[y] if y < len(col) else Content.blank(w) for col, w in pairs]
            if header is not None:
                parts = [part.stylize_before(header) for part in parts]
            line = Content(" " * EDGE) + gap.join(parts)
            strips.append(Strip(line.render_segments(style)))
        if index == 0:
            ruler = "─┼─".join("─" * w for w in widths)
            line = Content(" " * EDGE) + Content(ruler).stylize(rule)
            strips.append(Strip(line.render_segments(style)))
        self._drawn[index] = strips
        return strips

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._width:
            self._lay_out(width)
        return self._starts[-1] + 1 if self._rows else 0  # and a blank line under it

    def render_line(self, y: int) -> Strip:
        width, style = self.content_size.width, self.visual_style
        if width != self._width:
            self._lay_out(width)
        index = bisect.bisect_right(self._starts, y) - 1
        if index >= len(self._rows) or not self._rows:
            return Strip.blank(width, style.rich_style)
        strip = self._draw(index)[y - self._starts[index]]
        return strip.crop_extend(0, width, style.rich_style)


def _pad(content: Content, width: int, align: str) -> Content:
    space = width - content.cell_length
    if align == "right":
        return content.pad_left(space)
    if align == "center":
        return content.pad(space // 2, space - space // 2)
    return content.pad_right(space)
