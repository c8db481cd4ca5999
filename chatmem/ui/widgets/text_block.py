"""A short run of Markdown blocks, drawn by one widget as Textual's Markdown draws them.

Textual's Markdown widget is a tree of widgets (a list item alone is four), and Textual lays
out and styles every mounted widget at each refresh: a long reply of lists mounted thousands,
and every paint after it cost them all. A ``TextBlock`` parses its text into boxes
(paragraphs, headings, lists, quotes, rules, code) when the text changes, and lays them out
as lines of styled Content when the width changes: one widget, whatever the text holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markdown_it.token import Token
from textual.content import Content
from textual.geometry import Size
from textual.highlight import highlight
from textual.widget import Widget

from chatmem.ui.blocks import Block
from chatmem.ui.widgets.blocks import PARSER, relayout, styled, wrap

BULLETS = ["• ", "▪ ", "‣ ", "⭑ ", "◦ "]  # by depth, as Textual's Markdown has them
MARGINS = {  # (above, below), as Textual's Markdown has them
    "h1": (2, 1),
    "h2": (2, 1),
    "h3": (1, 1),
    "h4": (1, 1),
    "h5": (1, 1),
    "h6": (1, 1),
    "quote": (1, 1),
    "code": (1, 1),
    "hr": (0, 1),
}
_OPENS = {
    "paragraph_open": "para",
    "blockquote_open": "quote",
    "bullet_list_open": "bullets",
    "ordered_list_open": "numbers",
    "list_item_open": "item",
}


@dataclass
class Box:
    """One Markdown block: its inline text, or the blocks inside it."""

    kind: str  # "para", "h1"… "h6", "hr", "code", "quote", "bullets", "numbers", "item"
    content: Content = field(default_factory=Content)
    children: list[Box] = field(default_factory=list)
    symbol: str = ""  # an item's bullet or number


def parse(source: str) -> list[Box]:
    """The boxes of ``source``; a table inside a list or quote is kept as its text."""
    root = Box("root")
    stack = [root]
    table = False
    for token in PARSER.parse(source):
        kind = token.type
        if table:
            table = kind != "table_close"
        elif kind == "table_open":
            table, (start, end) = True, token.map or (0, 0)
            lines = source.splitlines()[start:end]
            stack[-1].children.append(Box("plain", Content("\n".join(lines))))
        elif kind == "heading_open" or kind in _OPENS:
            box = Box(token.tag if kind == "heading_open" else _OPENS[kind])
            if box.kind == "item":
                box.symbol = token.info or _bullet(stack)
            stack[-1].children.append(box)
            stack.append(box)
        elif kind.endswith("_close"):
            box = stack.pop()
            if box.kind == "numbers":
                _number(box)
        elif kind == "inline":
            stack[-1].content = styled(token.children or [], hardbreak="\n")
        elif kind in ("fence", "code_block"):
            stack[-1].children.append(Box("code", _code(token)))
        elif kind == "hr":
            stack[-1].children.append(Box("hr"))
        elif kind == "html_block":
            stack[-1].children.append(Box("plain", Content(token.content.rstrip())))
    return root.children


def _bullet(stack: list[Box]) -> str:
    depth = sum(1 for box in stack if box.kind == "item" and not box.symbol[:1].isdigit())
    return BULLETS[depth % len(BULLETS)]


def _number(box: Box) -> None:
    """Number the items of an ordered list from its first item's number, right-aligned."""
    try:
        start = int(box.children[0].symbol)
    except (IndexError, ValueError):
        start = 1
    numbers = [f"{number}. " for number in range(start, start + len(box.children))]
    size = max(map(len, numbers), default=0)
    for item, number in zip(box.children, numbers, strict=True):
        item.symbol = number.rjust(size + 1)


def _code(token: Token) -> Content:
    language = token.info.split()[0] if token.info.strip() else None
    return highlight(token.content.rstrip(), language=language)


def lay_out(boxes: list[Box], width: int, where: str = "top", last: bool = True) -> list[Content]:
    """The lines of ``boxes`` side by side at ``width``; ``where`` they are: "top" (in the
    reply itself), "list" (in a list, at any depth) or "inside" (in a quote). A margin
    between two boxes is the larger of the two, as in Textual's layout; with ``last``, a top
    level list ends with its margin (not when the list goes on in the next block)."""
    lines: list[Content] = []
    below = 0
    for index, box in enumerate(boxes):
        above, margin = MARGINS.get(box.kind, (0, 0))
        if box.kind == "para" and where == "top":
            margin = 1
        elif box.kind in ("bullets", "numbers") and where != "list":
            margin = 1 if last or index < len(boxes) - 1 else 0
        lines += [Content()] * (above if index == 0 else max(below, above))
        lines += _draw(box, width)
        below = margin
    return lines + [Content()] * below


def _draw(box: Box, width: int) -> list[Content]:
    kind = box.kind
    if kind in ("para", "plain"):
        return [row for line in box.content.split("\n") for row in wrap(line, width)]
    if kind[:1] == "h":
        if kind == "hr":
            return [Content(), Content.styled("─" * width, ".text--rule")]
        rows = wrap(box.content, width)
        if kind == "h1":
            rows = [row.center(width) for row in rows]
        elif kind != "h3":  # (an h3 is as wide as its text)
            rows = [row.pad_right(width - row.cell_length) for row in rows]
        return [row.stylize_before(f".text--{kind}") for row in rows]
    if kind == "code":
        return _draw_code(box.content, width)
    if kind == "quote":
        room = max(width - 3, 1)
        rows = lay_out(box.children, room, "inside")
        rows = [row.pad_right(room - row.cell_length) for row in rows]
        edge = Content.styled("▌", ".text--quote-edge")
        return [(edge + " " + row + " ").stylize_before(".text--quote") for row in rows]
    if kind in ("bullets", "numbers"):
        return [line for item in box.children for line in _draw_item(item, width)]
    return []


def _draw_code(code: Content, width: int) -> list[Content]:
    room = max(width - 4, 1)
    blank = Content(" " * width)
    rows = [
        Content("  ") + line.truncate(room, pad=True) + "  "
        for line in code.split("\n", allow_blank=True)
    ]
    return [row.stylize_before(".text--code") for row in [blank, *rows, blank]]


def _draw_item(item: Box, width: int) -> list[Content]:
    size = Content(item.symbol).cell_length
    rows = lay_out(item.children, max(width - size, 1), "list") or [Content()]
    indent = Content(" " * size)
    return [Content.styled(item.symbol, ".text--bullet") + rows[0], *(indent + r for r in rows[1:])]


_HEADINGS = "\n".join(  # as Textual's Markdown styles them
    f"& > .text--h{n} {{ color: $markdown-h{n}-color; background: $markdown-h{n}-background;"
    f" text-style: $markdown-h{n}-text-style; }}"
    for n in range(1, 7)
)


class TextBlock(Widget):
    """A short run of Markdown blocks, laid out again only when its text or width changes."""

    DEFAULT_CSS = """
    TextBlock {
        height: auto;
        text-wrap: nowrap;
        text-overflow: clip;
        HEADINGS
        & > .text--rule { color: $secondary; }
        & > .text--quote { background: $boost; }
        & > .text--quote-edge { color: $text-primary 50%; }
        &:light > .text--quote-edge { color: $text-secondary; }
        & > .text--bullet { color: $text-primary; }
        &:light > .text--bullet { color: $text-secondary; }
        & > .text--code { color: rgb(210,210,210); background: black 10%; }
        &:light > .text--code { background: white 30%; }
    }
    """.replace("HEADINGS", _HEADINGS)
    COMPONENT_CLASSES = {
        *(f"text--h{level}" for level in range(1, 7)),
        "text--rule",
        "text--quote",
        "text--quote-edge",
        "text--bullet",
        "text--code",
    }

    kind = "text"

    def __init__(self, block: Block, classes: str = "") -> None:
        super().__init__(classes=f"{classes} -continued" if block.continued else classes)
        self.source = ""
        self._boxes: list[Box] = []
        self._laid: tuple[tuple[int, bool], Content] = ((-1, False), Content())
        self.take(block)

    def take(self, block: Block) -> list[Widget]:
        """Show the block's text as it is now (nothing to mount)."""
        if block.continued != self.has_class("-continued"):
            self.set_class(block.continued, "-continued")
        if block.source != self.source:
            self.source = block.source
            self._boxes = parse(self.source)
            self._laid = ((-1, False), Content())
            relayout(self)
        return []

    def lines(self, width: int) -> Content:
        """The block's lines at ``width``, laid out once per width and text."""
        key = (width, self.has_class("-continued"))
        if self._laid[0] != key:
            rows = lay_out(self._boxes, width, last=not key[1])
            self._laid = (key, Content("\n").join(rows))
        return self._laid[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.lines(width).plain.count("\n") + 1 if self._boxes else 0

    def render(self) -> Content:
        return self.lines(self.content_size.width)
