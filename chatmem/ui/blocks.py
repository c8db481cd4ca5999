"""A reply's Markdown cut into blocks as it streams in, each line looked at once.

A block is what one widget shows. Small top-level Markdown blocks are grouped into one
``text`` block (up to ``GROUP_LINES`` lines or ``GROUP_CHARS`` characters); a fenced code
block longer than ``LONG_FENCE`` lines becomes a ``code`` block of its own, and a plain
paragraph longer than ``LONG_PARAGRAPH`` characters (or any one line longer than
``HUGE_LINE``) a ``para`` block. Those two only ever grow at their end, so their widgets
can render just the new part; a ``text`` block stays small, so re-rendering it whole is
cheap. Cutting depends only on the text, never on how
it arrived: the same reply streamed or given at once makes the same blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GROUP_LINES = 12
GROUP_CHARS = 1000
LONG_FENCE = 40  # code lines
LONG_PARAGRAPH = 3000  # characters
LIST_SPLIT = 10  # a list this many lines long goes on in a new block at its next item
HUGE_LINE = 16_000  # characters: a line this long is shown as a plain paragraph, whatever
DECIDE = 8  # characters of a line that tell what it is (a block start, a fence, text)

_FENCE_OPEN = re.compile(r"(`{3,})([^`]*)|(~{3,})(.*)")
_BLOCK_START = re.compile(r" {0,3}(?:[#>|]|[-*+](?:\s|$)|\d{1,5}[.)](?:\s|$)|[-=_]{3})|\s{4}")
_LIST_ITEM = re.compile(r"(?:[-*+]|\d{1,5}[.)])\s")
_TABLE_RULE = re.compile(r" {0,3}\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*")


@dataclass
class Block:
    kind: str  # "text", "code", "para" or "table"
    lines: list[str] = field(default_factory=list)  # complete lines
    partial: str = ""  # the line arriving
    info: str = ""  # code: the language named after the fence …
    closer: str = ""  # … and the fence that ends it
    closed: bool = False
    chars: int = 0
    # text blocks only
    fence: str = ""  # the fence a code block inside is open with
    fence_at: int = 0  # the line that opened it
    blanks: int = 0  # blank lines seen, kept until the next line shows they are inside
    para_at: int = 0  # the line the last paragraph starts at …
    para_plain: bool = False  # … and whether it is plain text (no list, quote, table…)
    para_chars: int = 0
    continued: bool = False  # a long list goes on in the next block

    @property
    def source(self) -> str:
        """The block's Markdown (for a code block, its code)."""
        return "\n".join([*self.lines, self.partial] if self.partial else self.lines)


def _top(line: str) -> bool:
    """A fence at the top level, not one inside a list item."""
    return line[:1] in ("`", "~")


def cells(row: str) -> list[str]:
    """The cells of a table row: split at each ``|`` not escaped, outer pipes dropped."""
    row = row.strip()
    row = row.removeprefix("|")
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)]


def _is_table(header: str, rule: str) -> bool:
    """Whether ``header`` and ``rule`` start a table (as markdown-it's GFM tables do)."""
    if "|" not in header or not _TABLE_RULE.fullmatch(rule):
        return False
    indent = len(header) - len(header.lstrip(" "))
    return indent <= 3 and len(cells(header)) == len(cells(rule))


def _closes(line: str, fence: str) -> bool:
    stripped = line.lstrip(" ")
    return (
        len(line) - len(stripped) <= 3
        and stripped.startswith(fence)
        and not stripped.lstrip(fence[0]).strip()
    )


class Splitter:
    """Feed text as it arrives; ``blocks`` holds the blocks made so far."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.dirty = 0  # the first block changed since ``clean()``
        self._line = ""  # the start of a line not yet decided
        self._target: Block | None = None  # where the rest of the decided line goes

    def clean(self) -> None:
        self.dirty = len(self.blocks) - 1 if self.blocks else 0

    def feed(self, text: str) -> None:
        pieces = text.split("\n")
        for index, piece in enumerate(pieces):
            complete = index < len(pieces) - 1
            if self._target is not None:
                self._add(self._target, piece)
            else:
                self._line += piece
                if complete or self._decidable(self._line):
                    line, self._line = self._line, ""
                    self._decide(line, complete)
            if complete:
                self._end_line()

    def finish(self) -> None:
        """The reply is complete: decide the last line and close every block."""
        if self._line:
            line, self._line = self._line, ""
            self._decide(line, True)
        for block in self.blocks:
            if not block.closed:
                self._touch(block)
                block.closed = True

    # ------------------------------------------------------------ one line

    def _open(self) -> Block | None:
        last = self.blocks[-1] if self.blocks else None
        return last if last is not None and not last.closed else None

    def _decidable(self, line: str) -> bool:
        block = self._open()
        head = line.lstrip(" ")
        if block is not None and block.kind == "code":
            return bool(line) and (head[:1] not in ("`", "~") or len(line) - len(head) > 3)
        if head[:1] in ("`", "~") and len(line) - len(head) <= 3:
            return False  # a fence opener: its whole line tells
        return len(line) >= DECIDE and bool(line.strip())

    def _decide(self, line: str, complete: bool) -> None:
        """Send ``line`` (all of it, or its first characters) to the block it belongs to."""
        block = self._open()
        if block is not None and block.kind == "code":
            if complete and _closes(line, block.closer):
                self._close(block)
                self._target = None
                return
            self._target = block
        elif not line.strip() and complete:
            if block is not None:
                if block.fence:
                    block.lines.append(line)
                    self._touch(block)
                else:
                    block.blanks += 1
            self._target = None
            return
        else:
            self._target = self._text_block(block, line)
        self._add(self._target, line)

    def _text_block(self, block: Block | None, line: str) -> Block:
        """The text (or para) block a new line of text goes to."""
        head = line[:DECIDE]  # the same characters whether the line came whole or in parts
        start = bool(_BLOCK_START.match(head))
        if block is not None and block.fence:
            return block
        if block is not None and block.kind == "table":  # rows go on until a blank or a block
            if block.blanks or (start and not head.lstrip(" ").startswith("|")):
                return self._new_text(line, block)
            return block
        if block is not None and not block.blanks:
            if block.kind == "para" and start:
                return self._new_text(line, block)
            if block.kind == "text" and len(block.lines) >= LIST_SPLIT and _LIST_ITEM.match(head):
                block.continued = True
                return self._new_text(line, block)
            if start:
                block.para_plain = False
            return block
        if block is not None and block.kind == "para":
            return self._new_text(line, block)
        if block is not None and head[:1].isspace():
            self._unblank(block)
            block.para_plain = False
            return block
        if block is not None and (
            block.kind == "text" and len(block.lines) < GROUP_LINES and block.chars < GROUP_CHARS
        ):
            self._unblank(block)
            block.para_at, block.para_plain, block.para_chars = len(block.lines), not start, 0
            return block
        return self._new_text(line, block)

    def _new_text(self, line: str, previous: Block | None) -> Block:
        if previous is not None:
            self._close(previous)
        block = Block("text", para_plain=not _BLOCK_START.match(line[:DECIDE]))
        self.blocks.append(block)
        return block

    def _unblank(self, block: Block) -> None:
        block.lines += [""] * block.blanks
        block.blanks = 0

    def _add(self, block: Block, text: str) -> None:
        block.partial += text
        block.chars += len(text)
        self._touch(block)
        if block.kind == "text" and not block.fence:
            block.para_chars += len(text)
            if block.para_plain and block.para_chars >= LONG_PARAGRAPH:
                self._split_out(block, block.para_at, "para")
            elif len(block.partial) >= HUGE_LINE:  # a list item or a quote, say: this line
                self._split_out(block, len(block.lines), "para")

    def _end_line(self) -> None:
        block, self._target = self._target, None
        if block is None:
            return
        line, block.partial = block.partial, ""
        block.lines.append(line)
        if block.kind != "text":
            return
        head = line.lstrip(" ")
        indent = len(line) - len(head)
        if block.fence:
            if _closes(line, block.fence):
                block.fence = ""
            elif len(block.lines) - 1 - block.fence_at > LONG_FENCE and _top(
                block.lines[block.fence_at]
            ):
                self._split_out(block, block.fence_at, "code")
        elif (match := _FENCE_OPEN.fullmatch(head)) and indent <= 3:
            block.fence, block.fence_at = match.group(1) or match.group(3), len(block.lines) - 1
            block.para_plain = False
        elif len(block.lines) > 1 and _is_table(block.lines[-2], line):
            self._split_out(block, len(block.lines) - 2, "table")

    def _split_out(self, block: Block, at: int, kind: str) -> None:
        """Move lines ``at``… of a text block into a new block of ``kind``."""
        moved, block.lines = block.lines[at:], block.lines[:at]
        while block.lines and not block.lines[-1].strip():
            block.lines.pop()
        new = Block(kind, partial=block.partial)
        block.partial = ""
        if kind == "code":
            opener = moved.pop(0).lstrip(" ")
            match = _FENCE_OPEN.fullmatch(opener)
            assert match is not None
            new.info = (match.group(2) or match.group(4) or "").strip()
            new.closer = block.fence
            block.fence = ""
        new.lines = moved
        new.chars = sum(map(len, moved)) + len(new.partial)
        if block.lines:
            self._close(block)
            self.blocks.append(new)
        else:
            self.blocks[self.blocks.index(block)] = new
            self._touch(new)
        if self._target is block:
            self._target = new

    def _close(self, block: Block) -> None:
        block.closed = True
        self._touch(block)

    def _touch(self, block: Block) -> None:
        index = len(self.blocks) - 1
        while index > 0 and self.blocks[index] is not block:
            index -= 1
        self.dirty = min(self.dirty, index)
